"use client";

import { api } from "../trpc/react";
import { formatUptime } from "./format";

export const HEALTH_REFRESH_MS = 5_000;

export function HealthPanel({ apiBase }: { apiBase: string }) {
  const health = api.health.useQuery(undefined, { refetchInterval: HEALTH_REFRESH_MS, retry: 1 });

  if (health.isPending) {
    return (
      <section className="card" aria-busy="true">
        Checking the inference node at <code>{apiBase}</code>…
      </section>
    );
  }

  if (health.isError) {
    return (
      <section className="card error" role="alert" data-testid="inference-unreachable">
        <h2>Inference node unreachable</h2>
        <p>
          No answer from <code>{apiBase}</code> ({health.error.message}). Start it with <code>npm start</code>{" "}
          (or <code>pnpm --filter @tts/inference start</code>), or point <code>NEXT_PUBLIC_TTS_API_BASE</code>{" "}
          at a running node. This page retries every {HEALTH_REFRESH_MS / 1000} seconds.
        </p>
      </section>
    );
  }

  const { service, version, uptimeSeconds, onnxRuntime, model } = health.data;
  return (
    <section className="card" data-testid="inference-health">
      <h2>
        <span className="dot ok" aria-hidden /> Inference node online
      </h2>
      <p className="muted small">The node this page talks to, as its health route describes it.</p>
      <dl>
        <dt>Service</dt>
        <dd data-testid="health-service">
          {service} {version}
        </dd>
        <dt>Address</dt>
        <dd>
          <code>{apiBase}</code>
        </dd>
        <dt>Uptime</dt>
        <dd>{formatUptime(uptimeSeconds)}</dd>
        <dt>Model</dt>
        <dd data-testid="health-model" title={model.notReady?.advice}>
          Chatterbox {model.variant} ({model.dtype}){model.provider ? ` on ${model.provider}` : ""}:{" "}
          {model.state}
        </dd>
        {model.notReady && (
          <>
            <dt>Why not ready</dt>
            <dd data-testid="health-not-ready">{model.notReady.advice}</dd>
          </>
        )}
        <dt>ONNX Runtime</dt>
        <dd>{onnxRuntime.version}</dd>
        <dt>Backends</dt>
        <dd>
          <ul className="backends">
            {onnxRuntime.backends.map((backend) => (
              <li key={backend.name} data-testid={`backend-${backend.name}`} title={backend.detail}>
                <span className={`dot ${backend.available ? "ok" : "off"}`} aria-hidden /> {backend.name}{" "}
                {backend.available ? "available" : "unavailable"}
              </li>
            ))}
          </ul>
        </dd>
      </dl>
    </section>
  );
}
