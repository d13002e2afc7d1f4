"use client";

import { api } from "../trpc/react";
import { Recorder } from "./recorder";

const mb = (bytes: number) => `${Math.round(bytes / 1_000_000)} MB`;

/**
 * The voice to speak with: the model's default or one from this user's library on the node, added by uploading a
 * WAV or recording from the microphone. The selected voice can be listened to as the node stores it.
 */
export function VoicePicker({
  voiceId,
  onChange,
  maxUploadBytes,
  apiBase,
}: {
  apiBase: string;
  voiceId: string;
  onChange: (id: string) => void;
  maxUploadBytes: number | undefined;
}) {
  const utils = api.useUtils();
  const voices = api.voices.list.useQuery();
  // The selected voice as the node stores it (trimmed, normalized): what the model will hear.
  const preview = api.voices.audioLink.useQuery(
    { id: voiceId },
    { enabled: voiceId !== "", staleTime: 30 * 60_000 },
  );

  const create = api.voices.create.useMutation({
    onSuccess: async (voice) => {
      // Listed before it is selected: a select whose value has no option shows (and reads as) nothing.
      utils.voices.list.setData(undefined, (voices) => [...(voices ?? []), voice]);
      onChange(voice.id);
      await utils.voices.list.invalidate();
    },
  });
  const remove = api.voices.delete.useMutation({
    onSuccess: async () => {
      onChange("");
      await utils.voices.list.invalidate();
    },
  });

  const upload = (file: File | undefined) => {
    if (!file) return;
    const form = new FormData();
    form.set("file", file);
    form.set("name", file.name.replace(/\.[^.]+$/, ""));
    create.mutate(form);
  };

  return (
    <fieldset className="voice">
      <legend>Voice</legend>
      <div className="row">
        <label htmlFor="speak-voice" className="sr-only">
          Voice
        </label>
        <select id="speak-voice" value={voiceId} onChange={(event) => onChange(event.target.value)}>
          <option value="">Model default</option>
          {voices.data?.map((voice) => (
            <option key={voice.id} value={voice.id}>
              {voice.name} ({voice.durationSeconds.toFixed(1)} s)
            </option>
          ))}
        </select>
        {voiceId && (
          <button
            type="button"
            className="link"
            disabled={remove.isPending}
            onClick={() => remove.mutate({ id: voiceId })}
          >
            Delete this voice
          </button>
        )}
      </div>
      <div className="row">
        <label className="upload">
          <span>Upload a WAV (5+ s of speech{maxUploadBytes ? `, up to ${mb(maxUploadBytes)}` : ""})</span>
          <input
            type="file"
            accept="audio/wav,.wav"
            data-testid="voice-upload"
            onChange={(event) => upload(event.target.files?.[0])}
          />
        </label>
        <Recorder busy={create.isPending} onUse={(file) => upload(file)} />
      </div>
      {voiceId && preview.data && (
        <div className="preview">
          <audio
            controls
            preload="metadata"
            src={`${apiBase}${preview.data.url}`}
            aria-label="Preview of the selected voice"
            data-testid="voice-preview"
          >
            <track kind="captions" />
          </audio>
          <span className="muted">The selected voice, as the model hears it</span>
        </div>
      )}
      {create.isPending && (
        <p className="muted" role="status">
          Preparing the voice…
        </p>
      )}
      {create.error && (
        <p role="alert" className="error-text">
          Voice upload failed: {create.error.message}
        </p>
      )}
      {voices.error && (
        <p role="alert" className="error-text">
          Voices could not be listed: {voices.error.message}
        </p>
      )}
    </fieldset>
  );
}
