import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { createTRPCClient, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";

import type { AppRouter } from "@tts/api";
import { apiLinks } from "@tts/api/client";
import { encodeWav } from "@tts/audio";

import { DEFAULT_STREAMING } from "../../src/engine/stream-decoder";
import { syntheticVoice } from "../../src/engine/synthetic-voice";
import { createLogger, type Logger } from "../../src/logger";
import { createInferenceNode, type InferenceNode, type NodeSettings } from "../../src/node";
import type { TinyBundleOptions } from "../../src/tiny/make-tiny";
import { tinyBundle } from "./tiny";

export interface TestNode {
  node: InferenceNode;
  url: string;
  settings: NodeSettings;
  /** The typed client a browser or server would use (batching, FormData uploads, SSE subscriptions). */
  client: (apiKey?: string) => ReturnType<typeof createTRPCClient<AppRouter>>;
  stop: () => Promise<void>;
}

export function typedClient(url: string, apiKey?: string) {
  const headers = () => (apiKey ? { Authorization: `Bearer ${apiKey}` } : {});
  return createTRPCClient<AppRouter>({ links: apiLinks({ url: `${url}/trpc`, headers, EventSource }) });
}

/** A real inference node (storage, engine workers, HTTP) on an ephemeral port, over a tiny-random bundle. */
export async function startTestNode(
  overrides: Partial<NodeSettings> = {},
  bundleOptions: TinyBundleOptions = { variant: "turbo", stopAfter: 12 },
  logger: Logger = createLogger("silent"),
): Promise<TestNode> {
  const bundle = await tinyBundle(bundleOptions);
  // Folders made here are removed by `stop`; a dataDir the caller passes (to restart on it) is left alone.
  const made: string[] = [];
  const temp = (prefix: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
  const settings: NodeSettings = {
    model: {
      variant: bundleOptions.variant,
      dtype: "fp32",
      device: "cpu",
      modelDir: bundle.dir,
      cacheDir: temp("tts-cache-"),
      threads: 1,
      workers: 1,
      batchRows: 1,
      endpoint: "http://127.0.0.1:9",
      streaming: DEFAULT_STREAMING,
    },
    dataDir: overrides.dataDir ?? temp("tts-data-"),
    corsOrigins: ["http://app.test:3000"],
    apiKeys: [],
    // Off unless a test is about it: suites send bursts far past a person's rate.
    rateLimit: { perMinute: 0, burst: 1 },
    trustedProxies: [],
    maxConcurrentUploads: 4,
    maxConcurrentBodies: 64,
    maxVoicesPerOwner: 100,
    voiceTtlSeconds: 0,
    minFreeBytes: 0,
    idleUnloadSeconds: 0,
    loadRetryMs: { first: 50, max: 1000 },
    audioTtlSeconds: 3600,
    queueSize: 4,
    maxActiveJobsPerOwner: 100,
    jobTimeoutSeconds: 60,
    drainTimeoutSeconds: 30,
    maxTextLength: 300,
    maxSpeechInputLength: 300,
    voiceAliases: new Map(),
    split: {},
    maxUploadBytes: 2_000_000,
    maxJsonBytes: 64_000,
    ...overrides,
  };
  const node = await createInferenceNode(settings, logger);
  const port = await node.listen(0, "127.0.0.1");
  await node.ready;
  const url = `http://127.0.0.1:${port}`;
  return {
    node,
    url,
    settings,
    client: (apiKey) => typedClient(url, apiKey),
    stop: async () => {
      await node.shutdown();
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A WAV a voice upload accepts: 3 s of the synthetic voice at 24 kHz. */
export const voiceWav = () => encodeWav(syntheticVoice(3, 7), 24_000);

/** Multipart form data for `voices.create` with that WAV. */
export function voiceForm(name = "v.wav"): FormData {
  const form = new FormData();
  form.set("file", new File([voiceWav()], name, { type: "audio/wav" }));
  return form;
}

/** The TRPCClientError a call rejects with (anything else fails the test). */
export async function trpcClientError(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as TRPCClientError<AppRouter>;
    throw error;
  }
  throw new Error("expected a TRPCClientError");
}

/** The job once it has ended (done, failed or cancelled), polled through the typed client. */
export async function settleJob(t: TestNode, id: string, apiKey?: string) {
  for (let i = 0; i < 400; i++) {
    const job = await t.client(apiKey).tts.get.query({ id });
    if (job.status !== "queued" && job.status !== "running") return job;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`job ${id} did not end`);
}
