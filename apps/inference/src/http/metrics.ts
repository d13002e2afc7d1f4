import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

import type { JobMetrics } from "../services/job-service";

/** Prometheus series for one server (own registry, so several servers can share a process in tests). */
export function createMetrics(engineStats: () => { encoderRuns: number; workers: number } | undefined) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tts_process_" });
  const registers = [registry];
  const requests = new Counter({
    name: "tts_http_requests_total",
    help: "HTTP requests by route, method and status",
    labelNames: ["route", "method", "status"],
    registers,
  });
  const errors = new Counter({
    name: "tts_http_errors_total",
    help: "HTTP responses with status >= 400, by route and status",
    labelNames: ["route", "status"],
    registers,
  });
  const queueDepth = new Gauge({
    name: "tts_queue_depth",
    help: "Synthesis jobs waiting for a worker",
    registers,
  });
  const inFlight = new Gauge({
    name: "tts_jobs_in_flight",
    help: "Synthesis jobs running on a worker",
    registers,
  });
  const jobs = new Counter({
    name: "tts_jobs_total",
    help: "Synthesis jobs by outcome (done, failed, cancelled, timeout, rejected)",
    labelNames: ["outcome"],
    registers,
  });
  const timeToAudio = new Histogram({
    name: "tts_time_to_first_audio_seconds",
    help:
      "From request to the first audio sample written: onto the response (via=speech, /v1/audio/speech) or " +
      "into the job's stream (via=job, tRPC jobs)",
    labelNames: ["via"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers,
  });
  const realTimeFactor = new Histogram({
    name: "tts_real_time_factor",
    help: "Synthesis time / audio duration (below 1 is faster than real time)",
    buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 4, 8],
    registers,
  });
  const tokensPerSecond = new Histogram({
    name: "tts_tokens_per_second",
    help: "Speech tokens generated per second of synthesis",
    buckets: [5, 10, 25, 50, 100, 200, 400, 800],
    registers,
  });
  new Gauge({
    name: "tts_speech_encoder_runs",
    help: "Voice conditionings computed (cache misses)",
    registers,
    collect() {
      this.set(engineStats()?.encoderRuns ?? 0);
    },
  });
  new Gauge({
    name: "tts_workers",
    help: "Inference worker threads",
    registers,
    collect() {
      this.set(engineStats()?.workers ?? 0);
    },
  });

  const jobMetrics: JobMetrics = {
    queueDepth: (value) => queueDepth.set(value),
    inFlight: (value) => inFlight.set(value),
    outcome: (outcome) => jobs.inc({ outcome }),
    firstAudio: (seconds, via) => timeToAudio.observe({ via }, seconds),
    finished: (stats) => {
      realTimeFactor.observe(stats.realTimeFactor);
      tokensPerSecond.observe(stats.tokensPerSecond);
    },
  };

  return {
    registry,
    jobs: jobMetrics,
    request(route: string, method: string, status: number): void {
      requests.inc({ route, method, status });
      if (status >= 400) errors.inc({ route, status });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
