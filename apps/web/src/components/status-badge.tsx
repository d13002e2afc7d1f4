"use client";

import { api } from "../trpc/react";
import { HEALTH_REFRESH_MS } from "./health-panel";

/** Model, dtype, device and queue at a glance; when the node cannot synthesize, why and what to do. */
export function StatusBadge() {
  const health = api.health.useQuery(undefined, { refetchInterval: HEALTH_REFRESH_MS, retry: 1 });
  if (health.isPending)
    return (
      <p className="badge" role="status">
        Connecting…
      </p>
    );
  if (health.isError)
    return (
      <p className="badge bad" role="status" data-testid="status-badge">
        <span className="dot off" aria-hidden /> Inference node unreachable
      </p>
    );
  const { model, queue } = health.data;
  const ready = model.state === "ready" && !model.notReady;
  return (
    <div className={ready ? "badge" : "badge bad"} role="status" data-testid="status-badge">
      <span className={`dot ${ready ? "ok" : "off"}`} aria-hidden />{" "}
      <span>
        Chatterbox {model.variant} · {model.dtype} · {model.provider ?? "no device yet"} · queue{" "}
        {queue.queued + queue.running}
      </span>
      {model.notReady && (
        <span className="badge-detail" data-testid="not-ready">
          {model.state === "failed" ? "Not ready" : "Loading"}: {model.notReady.advice}
        </span>
      )}
    </div>
  );
}
