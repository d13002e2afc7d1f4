"use client";

import { useRef, useState, type FormEvent } from "react";

import { DEFAULT_SPEECH_SETTINGS, synthesizeRequest } from "../lib/settings";
import { api } from "../trpc/react";
import { HEALTH_REFRESH_MS } from "./health-panel";
import { History } from "./history";
import { NowPlaying } from "./now-playing";
import { SettingsPanel } from "./settings-panel";
import { TextField } from "./text-field";
import { VoicePicker } from "./voice-picker";

/** The page's working area: compose (text, voice, settings), hear the result as it is made, and the history. */
export function Studio({ apiBase }: { apiBase: string }) {
  const utils = api.useUtils();
  const health = api.health.useQuery(undefined, { refetchInterval: HEALTH_REFRESH_MS, retry: 1 });
  const variant = health.data?.model.variant;
  const guided = health.data?.model.guidance === "cfg";
  const [text, setText] = useState("");
  const [voiceId, setVoiceId] = useState("");
  const [settings, setSettings] = useState(DEFAULT_SPEECH_SETTINGS);
  const [current, setCurrent] = useState<{ id: string; requestedAt?: number }>();
  // When Speak was pressed, to say how long the first audio took (read in onSuccess, so not state).
  const requestedAt = useRef(0);

  const synthesize = api.tts.synthesize.useMutation({
    onSuccess: (job) => {
      utils.tts.get.setData({ id: job.id }, job);
      setCurrent({ id: job.id, requestedAt: requestedAt.current });
      void utils.tts.list.invalidate();
    },
  });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    requestedAt.current = Date.now();
    synthesize.mutate(synthesizeRequest(text, voiceId, settings, variant ?? "turbo", guided));
  };
  const formats = health.data?.audioFormats ?? ["wav"];

  return (
    <>
      <form className="card composer" onSubmit={onSubmit} aria-label="Compose speech">
        <TextField
          text={text}
          onChange={(value) => {
            setText(value);
            // An error about the previous text no longer applies.
            if (synthesize.error) synthesize.reset();
          }}
          maxLength={health.data?.limits.maxTextLength}
          variant={variant}
        />
        <VoicePicker
          apiBase={apiBase}
          voiceId={voiceId}
          onChange={setVoiceId}
          maxUploadBytes={health.data?.limits.maxUploadBytes}
        />
        <SettingsPanel settings={settings} onChange={setSettings} variant={variant} guided={guided} />
        <div className="submit-row">
          <button type="submit" className="primary" disabled={!text.trim() || synthesize.isPending}>
            {synthesize.isPending ? "Sending…" : "Speak"}
          </button>
        </div>
        {synthesize.error && (
          <p role="alert" className="error-text" data-testid="synthesize-error">
            {synthesize.error.message}
          </p>
        )}
      </form>
      {current && (
        <NowPlaying
          key={current.id}
          id={current.id}
          apiBase={apiBase}
          formats={formats}
          {...(current.requestedAt !== undefined && { requestedAt: current.requestedAt })}
        />
      )}
      <History
        apiBase={apiBase}
        formats={formats}
        currentId={current?.id}
        onPlay={(id) => setCurrent({ id })}
        onDeleted={(id) => setCurrent((playing) => (playing?.id === id ? undefined : playing))}
      />
    </>
  );
}
