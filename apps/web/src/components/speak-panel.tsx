"use client";

import { useState, type FormEvent } from "react";

import type { Job } from "@tts/api";

import { api } from "../trpc/react";

const MAX_TEXT = 2000;

/** Follows one job over SSE and shows its progress, then its audio. */
function JobView({ id, apiBase, onDone }: { id: string; apiBase: string; onDone: (job: Job) => void }) {
  const [status, setStatus] = useState("Queued…");
  const [failure, setFailure] = useState<string>();
  api.tts.progress.useSubscription(
    { id },
    {
      onData: (event) => {
        if (event.type === "queued")
          setStatus(event.position > 0 ? `Queued (${event.position} ahead)…` : "Starting…");
        if (event.type === "running")
          setStatus(`Speaking… ${event.audioSeconds.toFixed(1)} s of audio so far`);
        if (event.type === "done") onDone(event.job);
        if (event.type === "failed") setFailure(event.reason);
      },
      onError: (error) => setFailure(error.message),
    },
  );
  if (failure)
    return (
      <p role="alert" className="error-text">
        Synthesis failed: {failure}
      </p>
    );
  return (
    <p aria-live="polite" data-testid="job-status">
      {status} <span className="muted">({apiBase})</span>
    </p>
  );
}

export function SpeakPanel({ apiBase }: { apiBase: string }) {
  const utils = api.useUtils();
  const voices = api.voices.list.useQuery();
  const [text, setText] = useState("");
  const [voiceId, setVoiceId] = useState("");
  const [jobId, setJobId] = useState<string>();
  const [result, setResult] = useState<Job>();
  const synthesize = api.tts.synthesize.useMutation({
    onSuccess: (job) => {
      setResult(undefined);
      setJobId(job.id);
    },
  });
  const upload = api.voices.create.useMutation({
    onSuccess: async (voice) => {
      setVoiceId(voice.id);
      await utils.voices.list.invalidate();
    },
  });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    synthesize.mutate({ text, voiceId: voiceId || null, format: "wav" });
  };
  const onUpload = (file: File | undefined) => {
    if (!file) return;
    const form = new FormData();
    form.set("file", file);
    upload.mutate(form);
  };

  return (
    <section className="card speak">
      <h2>Speak</h2>
      <form onSubmit={onSubmit}>
        <label htmlFor="speak-text">Text</label>
        <textarea
          id="speak-text"
          value={text}
          maxLength={MAX_TEXT}
          rows={4}
          placeholder="Type something to say. Turbo understands tags like [laugh]."
          onChange={(event) => setText(event.target.value)}
        />
        <div className="row">
          <label htmlFor="speak-voice">Voice</label>
          <select id="speak-voice" value={voiceId} onChange={(event) => setVoiceId(event.target.value)}>
            <option value="">Model default</option>
            {voices.data?.map((voice) => (
              <option key={voice.id} value={voice.id}>
                {voice.name} ({voice.durationSeconds.toFixed(1)} s)
              </option>
            ))}
          </select>
          <label className="upload">
            Upload a voice (WAV, 5+ s)
            <input
              type="file"
              accept="audio/wav,.wav"
              data-testid="voice-upload"
              onChange={(event) => onUpload(event.target.files?.[0])}
            />
          </label>
        </div>
        <button type="submit" disabled={!text.trim() || synthesize.isPending}>
          {synthesize.isPending ? "Sending…" : "Speak"}
        </button>
      </form>
      {upload.isPending && <p aria-live="polite">Preparing the voice…</p>}
      {upload.error && (
        <p role="alert" className="error-text">
          Voice upload failed: {upload.error.message}
        </p>
      )}
      {synthesize.error && (
        <p role="alert" className="error-text">
          {synthesize.error.message}
        </p>
      )}
      {jobId && !result && <JobView key={jobId} id={jobId} apiBase={apiBase} onDone={setResult} />}
      {result?.audio && (
        // Which job and voice made this result, so a new result can be told from the previous one.
        <audio
          controls
          autoPlay
          data-testid="result-audio"
          data-job-id={result.id}
          data-voice-id={result.voiceId ?? undefined}
          src={`${apiBase}${result.audio.url}`}
        >
          <track kind="captions" />
        </audio>
      )}
    </section>
  );
}
