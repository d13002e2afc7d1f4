"use client";

import type { AudioFormat, Job } from "@tts/api";

import { api } from "../trpc/react";
import { DownloadButtons } from "./download-buttons";

const time = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });

function summary(job: Job): string {
  if (job.status === "done") return `${job.audio?.durationSeconds.toFixed(1) ?? "?"} s`;
  if (job.status === "failed") return `failed: ${job.error?.message ?? "unknown reason"}`;
  return job.status;
}

/** This user's earlier results on the node, newest first: play, download, delete. */
export function History({
  apiBase,
  formats,
  currentId,
  onPlay,
  onDeleted,
}: {
  apiBase: string;
  formats: AudioFormat[];
  currentId: string | undefined;
  onPlay: (id: string) => void;
  onDeleted: (id: string) => void;
}) {
  const utils = api.useUtils();
  const list = api.tts.list.useQuery({ limit: 50 });
  const remove = api.tts.delete.useMutation({
    onSuccess: async (_result, { id }) => {
      onDeleted(id);
      await utils.tts.list.invalidate();
    },
  });

  return (
    <section className="card history" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      {list.error && (
        <p role="alert" className="error-text">
          History could not be loaded: {list.error.message}
        </p>
      )}
      {list.data?.length === 0 && <p className="muted">Nothing yet: what you synthesize appears here.</p>}
      <ul>
        {list.data?.map((job) => (
          <li
            key={job.id}
            data-testid="history-item"
            data-job-id={job.id}
            aria-current={job.id === currentId || undefined}
          >
            <p className="history-text">{job.text}</p>
            <p className="muted small">
              {time.format(job.createdAt)} · {summary(job)}
            </p>
            <div className="actions">
              {job.status === "done" && (
                <>
                  <button
                    type="button"
                    onClick={() => onPlay(job.id)}
                    aria-label={`Play: ${job.text.slice(0, 60)}`}
                  >
                    ▶ Play
                  </button>
                  <DownloadButtons id={job.id} apiBase={apiBase} formats={formats} />
                </>
              )}
              <button
                type="button"
                className="danger"
                disabled={remove.isPending && remove.variables.id === job.id}
                onClick={() => remove.mutate({ id: job.id })}
                aria-label={`Delete: ${job.text.slice(0, 60)}`}
                data-testid="history-delete"
              >
                Delete
              </button>
            </div>
          </li>
        ))}
      </ul>
      {remove.error && (
        <p role="alert" className="error-text">
          Delete failed: {remove.error.message}
        </p>
      )}
    </section>
  );
}
