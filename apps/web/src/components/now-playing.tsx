"use client";

import { useRef, useState } from "react";

import type { AudioFormat, JobProgress } from "@tts/api";

import { api } from "../trpc/react";
import { DownloadButtons } from "./download-buttons";
import { Waveform } from "./waveform";

type Running = Extract<JobProgress, { type: "running" }>;

/**
 * One job, from the moment it is queued: its audio plays from the first chunk (the node streams it while the rest
 * is generated), progress is announced, Cancel stops it; once done, its waveform and downloads.
 */
export function NowPlaying({
  id,
  apiBase,
  requestedAt,
  formats,
}: {
  id: string;
  apiBase: string;
  /** When the user asked for it (epoch ms), to say how long the first audio took; absent for a replay. */
  requestedAt?: number;
  formats: AudioFormat[];
}) {
  const utils = api.useUtils();
  const audio = useRef<HTMLAudioElement>(null);
  const job = api.tts.get.useQuery({ id });
  // One link for the player's lifetime: it follows the job live, then serves the stored file.
  const link = api.tts.audioLink.useQuery({ id }, { staleTime: Infinity, gcTime: 0 });
  const [progress, setProgress] = useState<Running | { type: "queued"; position: number }>();
  const [failure, setFailure] = useState<string>();
  const [firstAudioMs, setFirstAudioMs] = useState<number>();
  const [played, setPlayed] = useState(0);
  const seek = (fraction: number) => {
    const element = audio.current;
    const total = job.data?.audio?.durationSeconds;
    if (!element || !total) return;
    const target = fraction * total;
    const ranges = element.seekable;
    if (ranges.length > 0 && ranges.end(ranges.length - 1) >= target - 0.05) {
      element.currentTime = target;
      return;
    }
    // Heard while it was generated (a stream without length or ranges): reload the stored file, which seeks.
    const resume = !element.paused;
    element.addEventListener(
      "loadedmetadata",
      () => {
        element.currentTime = target;
        if (resume) void element.play();
      },
      { once: true },
    );
    element.load();
  };

  const status = job.data?.status;
  const live = status === "queued" || status === "running";
  api.tts.progress.useSubscription(
    { id },
    {
      enabled: live,
      onData: (event) => {
        if (event.type === "queued" || event.type === "running") setProgress(event);
        if (event.type === "done") {
          utils.tts.get.setData({ id }, event.job);
          void utils.tts.list.invalidate();
        }
        if (event.type === "failed") {
          setFailure(event.reason);
          void utils.tts.get.invalidate({ id });
          void utils.tts.list.invalidate();
        }
      },
      onError: (error) => setFailure(error.message),
    },
  );
  const cancel = api.tts.cancel.useMutation({
    onSuccess: (cancelled) => {
      utils.tts.get.setData({ id }, cancelled);
      void utils.tts.list.invalidate();
    },
  });

  const src = link.data ? `${apiBase}${link.data.url}` : undefined;
  const data = job.data;
  const error = job.error ?? link.error;
  return (
    <section className="card now-playing" aria-labelledby="now-playing-title" data-testid="now-playing">
      <h2 id="now-playing-title">{live ? "Speaking" : "Result"}</h2>
      {data && <p className="quote">{data.text.length > 240 ? `${data.text.slice(0, 240)}…` : data.text}</p>}
      {src && status !== "failed" && status !== "cancelled" && (
        <audio
          ref={audio}
          controls
          autoPlay
          src={src}
          data-testid="result-audio"
          data-job-id={id}
          data-voice-id={data?.voiceId ?? undefined}
          onError={() => {
            // A signed link lasts an hour: a page left open longer gets a fresh one when playback fails.
            const expiresAt = link.data?.expiresAt;
            if (expiresAt && Date.now() > expiresAt - 60_000) void link.refetch();
          }}
          onTimeUpdate={(event) => {
            // A live stream's duration is unknown to the element; the job knows it once done.
            const { currentTime, duration } = event.currentTarget;
            const total =
              Number.isFinite(duration) && duration > 0 ? duration : job.data?.audio?.durationSeconds;
            setPlayed(total ? Math.min(1, currentTime / total) : 0);
          }}
          onPlaying={(event) => {
            const element = event.currentTarget;
            if (element.dataset.firstPlayingAt) return;
            element.dataset.firstPlayingAt = String(Date.now());
            if (requestedAt !== undefined) setFirstAudioMs(Date.now() - requestedAt);
          }}
        >
          <track kind="captions" />
        </audio>
      )}
      <p className="progress" role="status" aria-live="polite" data-testid="job-status">
        {statusLine(status, progress, data?.audio?.durationSeconds, data?.seed)}
        {firstAudioMs !== undefined && ` First audio after ${(firstAudioMs / 1000).toFixed(1)} s.`}
      </p>
      {live && progress?.type === "running" && progress.chunks > 1 && (
        <progress max={progress.chunks} value={progress.chunksDone} aria-label="Chunks generated" />
      )}
      {live && (
        <button type="button" onClick={() => cancel.mutate({ id })} disabled={cancel.isPending}>
          Cancel
        </button>
      )}
      {status === "done" && src && (
        <>
          <Waveform
            src={src}
            played={played}
            onSeek={seek}
            durationSeconds={data?.audio?.durationSeconds ?? 0}
          />
          <DownloadButtons id={id} apiBase={apiBase} formats={formats} />
        </>
      )}
      {(failure ?? data?.error ?? error) && status !== "cancelled" && (
        <p role="alert" className="error-text">
          {failure ?? data?.error?.message ?? error?.message}
        </p>
      )}
      {cancel.error && (
        <p role="alert" className="error-text">
          Cancel failed: {cancel.error.message}
        </p>
      )}
    </section>
  );
}

function statusLine(
  status: string | undefined,
  progress: Running | { type: "queued"; position: number } | undefined,
  duration: number | undefined,
  seed: number | null | undefined,
): string {
  if (status === "done")
    return `Done: ${duration?.toFixed(1) ?? "?"} s of audio${seed !== null && seed !== undefined ? ` (seed ${seed})` : ""}.`;
  if (status === "cancelled") return "Cancelled.";
  if (status === "failed") return "Failed.";
  if (progress?.type === "running")
    return `Generating… ${progress.tokens} tokens, ${progress.audioSeconds.toFixed(1)} s of audio so far.`;
  if (progress?.type === "queued")
    return progress.position > 0 ? `Queued: ${progress.position} ahead.` : "Starting…";
  return "Starting…";
}
