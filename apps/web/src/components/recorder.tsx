"use client";

import { useEffect, useRef, useState } from "react";

import { recordingToWav } from "../lib/recording-wav";

/** Voice uploads need this much sound; the recorder says so and keeps counting. */
const MIN_SECONDS = 5;

type State =
  | { kind: "idle" }
  | { kind: "recording"; startedAt: number }
  | { kind: "recorded"; file: File; preview: string; seconds: number }
  | { kind: "error"; message: string };

/**
 * Records from the microphone, converts the recording to WAV in the browser, lets the user listen to it, and
 * hands it over as a voice on request.
 */
export function Recorder({ onUse, busy }: { onUse: (file: File) => void; busy: boolean }) {
  const [state, setState] = useState<State>({ kind: "idle" });
  const [elapsed, setElapsed] = useState(0);
  const recorder = useRef<MediaRecorder | null>(null);
  const mounted = useRef(true);

  useEffect(() => {
    if (state.kind !== "recording") return;
    const timer = setInterval(() => setElapsed((Date.now() - state.startedAt) / 1000), 200);
    return () => clearInterval(timer);
  }, [state]);
  useEffect(
    () => () => (state.kind === "recorded" ? URL.revokeObjectURL(state.preview) : undefined),
    [state],
  );
  // Leaving the page mid-recording releases the microphone.
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      recorder.current?.stream.getTracks().forEach((track) => track.stop());
    };
  }, []);

  const start = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      // Granted after the user left (the prompt was still open): release it at once.
      if (!mounted.current) return stream.getTracks().forEach((track) => track.stop());
      const media = new MediaRecorder(stream);
      const chunks: Blob[] = [];
      media.ondataavailable = (event) => chunks.push(event.data);
      media.onstop = async () => {
        stream.getTracks().forEach((track) => track.stop());
        try {
          const { wav, seconds } = await recordingToWav(new Blob(chunks, { type: media.mimeType }));
          const file = new File(
            [wav as Uint8Array<ArrayBuffer>],
            `Recording ${new Date().toLocaleTimeString()}.wav`,
            {
              type: "audio/wav",
            },
          );
          setState({ kind: "recorded", file, preview: URL.createObjectURL(file), seconds });
        } catch (error) {
          setState({ kind: "error", message: `The recording could not be decoded: ${String(error)}` });
        }
      };
      recorder.current = media;
      media.start();
      setElapsed(0);
      setState({ kind: "recording", startedAt: Date.now() });
    } catch (error) {
      const denied = error instanceof DOMException && error.name === "NotAllowedError";
      setState({
        kind: "error",
        message: denied
          ? "Microphone access was denied; allow it in the browser's site settings to record."
          : `No microphone could be opened (${error instanceof Error ? error.message : String(error)}).`,
      });
    }
  };

  const stop = () => recorder.current?.stop();

  return (
    <div className="recorder">
      {state.kind === "recording" ? (
        <button type="button" className="danger" onClick={stop} data-testid="record-stop">
          ■ Stop ({elapsed.toFixed(0)} s{elapsed < MIN_SECONDS ? `, ${MIN_SECONDS}+ s needed` : ""})
        </button>
      ) : (
        <button type="button" onClick={() => void start()} data-testid="record-start">
          ● Record a voice
        </button>
      )}
      {state.kind === "recording" && (
        <span className="recording-dot" role="status">
          Recording…
        </span>
      )}
      {state.kind === "recorded" && (
        <div className="preview">
          <audio controls src={state.preview} data-testid="recording-preview" aria-label="Your recording">
            <track kind="captions" />
          </audio>
          <span className="muted">{state.seconds.toFixed(1)} s</span>
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              onUse(state.file);
              // The voice picker previews it from here on.
              setState({ kind: "idle" });
            }}
            data-testid="recording-use"
          >
            Use as voice
          </button>
        </div>
      )}
      {state.kind === "error" && (
        <p role="alert" className="error-text">
          {state.message}
        </p>
      )}
    </div>
  );
}
