import type { Server } from "node:http";
import path from "node:path";

import type { ModelStatus } from "@tts/api";

import { createApiContext } from "./context";
import { Engine } from "./engine/engine";
import { resolveSettings } from "./engine/resolve-settings";
import { syntheticVoice } from "./engine/synthetic-voice";
import type { SplitOptions } from "./engine/text-split";
import type { InferenceEnv } from "./env";
import { createAuthorizer } from "./http/auth";
import { createMetrics } from "./http/metrics";
import { createInferenceServer, listen } from "./http/server";
import type { Logger } from "./logger";
import { ensureModel, loadOptions, type ModelSettings } from "./model-settings";
import { AudioEncoders } from "./services/audio-encoders";
import { detectFormats } from "./services/ffmpeg";
import { JobService } from "./services/job-service";
import { createVoiceService } from "./services/voice-service";
import { createFsStorage } from "./storage/fs-storage";

export interface NodeSettings {
  model: ModelSettings;
  dataDir: string;
  corsOrigins: readonly string[];
  apiKeys: readonly string[];
  audioTtlSeconds: number;
  queueSize: number;
  jobTimeoutSeconds: number;
  drainTimeoutSeconds: number;
  maxTextLength: number;
  maxSpeechInputLength: number;
  /** Operator-mapped voice names (lowercase) -> stored voice ids. */
  voiceAliases: ReadonlyMap<string, string>;
  /** How long texts are cut into chunks, and the pauses between them. */
  split: SplitOptions;
  maxUploadBytes: number;
  maxJsonBytes: number;
  /** The ffmpeg that encodes opus, aac and flac; default `ffmpeg` on PATH. */
  ffmpegPath?: string;
}

export function nodeSettingsFromEnv(env: InferenceEnv, model: ModelSettings): NodeSettings {
  const dataHome =
    env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME)
      ? env.XDG_DATA_HOME
      : path.join(env.HOME, ".local", "share");
  return {
    model,
    dataDir: env.DATA_DIR ?? path.join(dataHome, "chatterbox-tts"),
    corsOrigins: env.CORS_ORIGINS,
    apiKeys: env.API_KEYS,
    audioTtlSeconds: env.AUDIO_TTL_SECONDS,
    queueSize: env.QUEUE_SIZE,
    jobTimeoutSeconds: env.JOB_TIMEOUT_SECONDS,
    drainTimeoutSeconds: env.DRAIN_TIMEOUT_SECONDS,
    maxTextLength: env.MAX_TEXT_LENGTH,
    maxSpeechInputLength: env.MAX_SPEECH_INPUT_LENGTH,
    voiceAliases: env.VOICE_ALIASES,
    split: {
      maxChars: env.TTS_CHUNK_MAX_CHARS,
      pauses: {
        paragraph: env.PAUSE_PARAGRAPH_MS,
        sentence: env.PAUSE_SENTENCE_MS,
        clause: env.PAUSE_CLAUSE_MS,
      },
    },
    maxUploadBytes: env.MAX_UPLOAD_BYTES,
    maxJsonBytes: env.MAX_JSON_BYTES,
    ffmpegPath: env.FFMPEG_PATH,
  };
}

export interface InferenceNode {
  server: Server;
  listen(port: number, host: string): Promise<number>;
  /** Resolves when the model is loaded and warmed (rejects if it cannot be). */
  ready: Promise<void>;
  engine(): Engine | undefined;
  jobs: JobService;
  /** Stops accepting, finishes queued and running jobs (up to the drain timeout), then releases everything. */
  shutdown(): Promise<void>;
}

/**
 * Wires storage, engine, services and HTTP together. The server answers at once (liveness, health, stored
 * audio); the model downloads and loads in the background and /readyz turns green when it is warm.
 */
export async function createInferenceNode(settings: NodeSettings, logger: Logger): Promise<InferenceNode> {
  const storage = await createFsStorage({
    dataDir: settings.dataDir,
    audioTtlMs: settings.audioTtlSeconds * 1000,
    onSweepError: (error) => logger.warn({ err: error }, "storage sweep failed"),
  });
  let engine: Engine | undefined;
  let draining = false;
  const status: ModelStatus = {
    state: "loading",
    variant: settings.model.variant,
    dtype: settings.model.dtype,
    provider: null,
    error: null,
  };
  const metrics = createMetrics(
    () => engine && { encoderRuns: engine.encoderRuns, workers: engine.stats().workers },
  );
  const voices = createVoiceService({ voices: storage.voices, maxUploadBytes: settings.maxUploadBytes });
  const formats = await detectFormats(settings.ffmpegPath);
  if (Object.keys(formats.missing).length > 0)
    logger.warn({ missing: formats.missing }, "some audio formats are unavailable");
  const encoders = new AudioEncoders(formats.ffmpeg);
  const jobs = new JobService({
    engine: () => engine,
    encoders,
    formats,
    audio: storage.audio,
    voices,
    queueSize: settings.queueSize,
    timeoutMs: settings.jobTimeoutSeconds * 1000,
    maxTextLength: settings.maxTextLength,
    split: settings.split,
    metrics: metrics.jobs,
    log: logger,
  });
  const server = createInferenceServer({
    context: createApiContext({
      model: () => ({ ...status }),
      audioFormats: formats.available,
      voices,
      tts: jobs,
    }),
    corsOrigins: settings.corsOrigins,
    logger,
    authorize: createAuthorizer(settings.apiKeys),
    limits: {
      maxJsonBytes: settings.maxJsonBytes,
      maxUploadBytes: settings.maxUploadBytes,
      maxSpeechInputLength: settings.maxSpeechInputLength,
    },
    metrics,
    jobs,
    audio: storage.audio,
    readiness: () =>
      draining
        ? { ready: false, reason: "draining" }
        : status.state === "ready"
          ? { ready: true, reason: "model loaded and warm" }
          : { ready: false, reason: status.error ?? `model ${status.state}` },
    variant: () => engine?.info.variant,
    configuredVariant: settings.model.variant,
    voices,
    voiceAliases: settings.voiceAliases,
  });

  const ready = (async () => {
    const { model } = settings;
    const dir = await ensureModel(model, (event) => {
      if (event.type !== "progress") logger.info({ download: event }, "model download");
    });
    const started = await Engine.start({
      ...loadOptions(model),
      modelDir: dir,
      workers: model.workers,
      log: (message) => logger.warn(message),
    });
    // One short synthesis per worker so the first real request does not pay for graph initialization.
    const warmup = {
      text: "Warm up.",
      voice: { samples: syntheticVoice(), key: "warmup" },
      options: resolveSettings(started.info.variant, { greedy: true, maxTokens: 2 }).generation,
    };
    await Promise.all([
      ...Array.from({ length: model.workers }, () => started.synthesize(warmup)),
      encoders.warmUp(),
    ]);
    engine = started;
    Object.assign(status, { state: "ready", variant: started.info.variant, provider: started.info.provider });
    logger.info(
      {
        variant: started.info.variant,
        provider: started.info.provider,
        workers: model.workers,
        threads: model.threads,
      },
      "model ready",
    );
  })();
  ready.catch((error: unknown) => {
    Object.assign(status, { state: "failed", error: error instanceof Error ? error.message : String(error) });
    logger.error({ err: error }, "model failed to load");
  });

  return {
    server,
    listen: (port, host) => listen(server, port, host),
    ready,
    engine: () => engine,
    jobs,
    async shutdown() {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const finished = await jobs.drain(settings.drainTimeoutSeconds * 1000);
      if (!finished)
        logger.warn(
          { timeoutSeconds: settings.drainTimeoutSeconds },
          "drain timed out; stopping with jobs unfinished",
        );
      await engine?.close();
      await encoders.close();
      server.closeAllConnections();
      await closed;
      await storage.close();
    },
  };
}
