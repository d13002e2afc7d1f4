import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { ServiceError, type ModelStatus, type NotReady } from "@tts/api";
import { RateLimiter } from "@tts/api/rate-limit";

import { createApiContext } from "./context";
import { Engine, type EngineConfig } from "./engine/engine";
import { resolveSettings } from "./engine/resolve-settings";
import { syntheticVoice } from "./engine/synthetic-voice";
import type { SplitOptions } from "./engine/text-split";
import type { InferenceEnv } from "./env";
import { AudioLinks } from "./http/audio-links";
import { createAuthenticator } from "./http/auth";
import { createClientIp, trustedProxyList } from "./http/client-ip";
import { createMetrics } from "./http/metrics";
import { createInferenceServer, listen } from "./http/server";
import type { Logger } from "./logger";
import { ensureModel, loadOptions, type ModelSettings } from "./model-settings";
import { classifyModelFailure } from "./models/failure-category";
import { createAudioConverter } from "./services/audio-convert";
import { AudioEncoders } from "./services/audio-encoders";
import { detectFormats } from "./services/ffmpeg";
import { JobRecords } from "./services/job-records";
import { JobService } from "./services/job-service";
import { LOCAL_OWNER } from "./services/ownership";
import { PeerNodes } from "./services/peer-nodes";
import { createTaskProtection } from "./services/task-protection";
import { createVoiceService } from "./services/voice-service";
import { createFsStorage } from "./storage/fs-storage";
import { createS3Storage, s3Client } from "./storage/s3-storage";

export interface NodeSettings {
  model: ModelSettings;
  dataDir: string;
  /** Set: voices and audio live in this bucket (shared by every node on it) instead of under dataDir. */
  s3?: { bucket: string; prefix: string; endpoint?: string; region?: string };
  corsOrigins: readonly string[];
  /** `API_KEYS` entries (`name:key` or a bare key); empty runs single-user. */
  apiKeys: readonly string[];
  /**
   * Verifies browser session tokens and signs audio links (shared with the web app's server); nodes sharing
   * storage also vouch for callers to each other with it.
   */
  sessionSecret?: string;
  /** Where other nodes on the same storage reach this one; default from the address it listens on. */
  nodeUrl?: string;
  /** Per principal, or per client IP without one; perMinute 0 turns it off. */
  rateLimit: { perMinute: number; burst: number };
  /** Proxies whose X-Forwarded-For names the client (addresses or CIDR ranges). */
  trustedProxies: readonly string[];
  maxConcurrentUploads: number;
  maxConcurrentBodies: number;
  maxVoicesPerOwner: number;
  /** 0 keeps voices until deleted. */
  voiceTtlSeconds: number;
  /** Writes are refused (507) below this much free space on the data disk. */
  minFreeBytes: number;
  /** Release the model after this many seconds without jobs (0 keeps it loaded); the next job reloads it. */
  idleUnloadSeconds: number;
  /** Fault-test hooks passed to the engine (how workers start, how long it waits to replace one). */
  engineHooks?: Pick<EngineConfig, "spawnWorker" | "respawnDelayMs">;
  /** Waits between attempts to load the model: `first` ms, doubling up to `max` (default 2 s to 5 min). */
  loadRetryMs?: { first: number; max: number };
  audioTtlSeconds: number;
  queueSize: number;
  /** Jobs one principal may have queued or running (the keyless local user is bounded by the queue alone). */
  maxActiveJobsPerOwner: number;
  jobTimeoutSeconds: number;
  drainTimeoutSeconds: number;
  /** Idle keep-alive connections close after this long (default 65 s: above an ALB's default idle timeout). */
  keepAliveSeconds?: number;
  /** ECS's agent endpoint (`ECS_AGENT_URI`): the task is protected from scale-in while the node has jobs. */
  ecsAgentUri?: string;
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
    ...(env.S3_BUCKET && {
      s3: {
        bucket: env.S3_BUCKET,
        prefix: env.S3_PREFIX,
        ...(env.S3_ENDPOINT && { endpoint: env.S3_ENDPOINT }),
        ...(env.AWS_REGION && { region: env.AWS_REGION }),
      },
    }),
    corsOrigins: env.CORS_ORIGINS,
    apiKeys: env.API_KEYS,
    sessionSecret: env.TTS_SESSION_SECRET,
    nodeUrl: env.TTS_NODE_URL,
    rateLimit: { perMinute: env.RATE_LIMIT_PER_MINUTE, burst: env.RATE_LIMIT_BURST },
    trustedProxies: env.TRUSTED_PROXIES,
    maxConcurrentUploads: env.MAX_CONCURRENT_UPLOADS,
    maxConcurrentBodies: env.MAX_CONCURRENT_BODIES,
    maxVoicesPerOwner: env.MAX_VOICES_PER_KEY,
    voiceTtlSeconds: env.VOICE_TTL_SECONDS,
    minFreeBytes: env.MIN_FREE_DISK_MB * 1024 * 1024,
    idleUnloadSeconds: env.TTS_IDLE_UNLOAD_SECONDS,
    audioTtlSeconds: env.AUDIO_TTL_SECONDS,
    queueSize: env.QUEUE_SIZE,
    maxActiveJobsPerOwner: env.MAX_ACTIVE_JOBS_PER_KEY,
    jobTimeoutSeconds: env.JOB_TIMEOUT_SECONDS,
    drainTimeoutSeconds: env.DRAIN_TIMEOUT_SECONDS,
    keepAliveSeconds: env.HTTP_KEEP_ALIVE_SECONDS,
    ecsAgentUri: env.ECS_AGENT_URI,
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
  /** Resolves when the model is loaded and warmed; failed loads are retried with backoff until shutdown. */
  ready: Promise<void>;
  engine(): Engine | undefined;
  jobs: JobService;
  /** HTTP route names, for tests that must cover every route. */
  routeNames: readonly string[];
  /**
   * Stops accepting, then waits up to the drain timeout for jobs and for responses in flight (streams and
   * downloads too); what is still running then gets 503, or is cut mid-stream. Then releases everything.
   */
  shutdown(): Promise<void>;
}

const DRAINING: NotReady = {
  category: "draining",
  advice: "The node is shutting down; send work elsewhere.",
};
const NO_WORKER: NotReady = {
  category: "no-worker",
  advice: "No inference worker is running; the node keeps trying to start one (see its log).",
};

/**
 * Wires storage, engine, services and HTTP together. The server answers at once (liveness, health, stored
 * audio); the model downloads and loads in the background and /readyz turns green when it is warm.
 */
export async function createInferenceNode(settings: NodeSettings, logger: Logger): Promise<InferenceNode> {
  if (settings.s3 && settings.apiKeys.length > 0 && !settings.sessionSecret)
    throw new Error(
      "S3_BUCKET with API_KEYS needs TTS_SESSION_SECRET too: nodes sharing a bucket use it to act for a " +
        "caller on a job that another node runs (its live audio, progress and cancel).",
    );
  const onSweepError = (error: unknown) => logger.warn({ err: error }, "storage sweep failed");
  const storage = settings.s3
    ? await createS3Storage({
        client: s3Client(settings.s3),
        bucket: settings.s3.bucket,
        prefix: settings.s3.prefix,
        audioTtlMs: settings.audioTtlSeconds * 1000,
        onSweepError,
      })
    : await createFsStorage({
        dataDir: settings.dataDir,
        audioTtlMs: settings.audioTtlSeconds * 1000,
        minFreeBytes: settings.minFreeBytes,
        onSweepError,
      });
  let engine: Engine | undefined;
  /** Workers being started: shutdown waits for them, since a thread ended inside ONNX Runtime aborts the process. */
  let loading: Promise<Engine> | undefined;
  let draining = false;
  const status: Omit<ModelStatus, "notReady"> & { problem: NotReady | null } = {
    state: "loading",
    variant: settings.model.variant,
    dtype: settings.model.dtype,
    provider: null,
    manifest: null,
    guidance: null,
    guidanceProblem: null,
    problem: { category: "loading", advice: "The model is loading." },
  };
  const notReady = (): NotReady | null =>
    draining ? DRAINING : (status.problem ?? (engine?.stats().workers === 0 ? NO_WORKER : null));
  const metrics = createMetrics(
    () => engine && { encoderRuns: engine.encoderRuns, workers: engine.stats().workers },
  );
  const formats = await detectFormats(settings.ffmpegPath);
  if (Object.keys(formats.missing).length > 0)
    logger.warn({ missing: formats.missing }, "some audio formats are unavailable");
  const encoders = new AudioEncoders(formats.ffmpeg);
  const voices = createVoiceService({
    voices: storage.voices,
    maxUploadBytes: settings.maxUploadBytes,
    maxVoicesPerOwner: settings.maxVoicesPerOwner,
    retentionMs: settings.voiceTtlSeconds > 0 ? settings.voiceTtlSeconds * 1000 : null,
    // Operator aliases name voices every caller may speak with.
    sharedIds: new Set(settings.voiceAliases.values()),
    prepare: (bytes) => encoders.prepareReferenceClip(bytes),
  });
  // Idle unload: after a quiet period the sessions are released (GPU memory above all) and the next job loads
  // them again. The node stays ready meanwhile: that job pays the reload, nobody is turned away.
  const idleMs = settings.idleUnloadSeconds * 1000;
  let unloaded = false;
  let reloading: Promise<void> | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  // On ECS, a node with jobs is not a candidate for scale-in: stopping it would cut streams mid-sentence.
  const taskProtection =
    settings.ecsAgentUri === undefined
      ? undefined
      : createTaskProtection({ agentUri: settings.ecsAgentUri, logger });
  const onActivity = (active: number) => {
    taskProtection?.activeJobsChanged(active);
    clearTimeout(idleTimer);
    if (idleMs > 0 && active === 0 && engine && !draining)
      idleTimer = setTimeout(() => void unloadIdle(), idleMs).unref();
  };
  const unloadIdle = async () => {
    const idle = engine;
    const { queued, running } = jobs.stats();
    if (!idle || queued + running > 0 || draining) return;
    engine = undefined;
    unloaded = true;
    await idle.close();
    logger.info({ idleSeconds: settings.idleUnloadSeconds }, "model unloaded while idle");
  };
  const wake = async () => {
    if (!unloaded) return;
    reloading ??= (async () => {
      const started = performance.now();
      try {
        engine = await loadOnce(() => undefined);
        unloaded = false;
        logger.info({ reloadMs: Math.round(performance.now() - started) }, "model reloaded");
      } catch (error) {
        logger.error({ err: error }, "model failed to reload");
        throw new ServiceError("SERVICE_UNAVAILABLE", "The model could not be reloaded; retry shortly.", 10);
      } finally {
        reloading = undefined;
      }
    })();
    await reloading;
  };
  // Nodes on the same storage (a bucket, or a shared DATA_DIR) answer for each other's jobs.
  let advertised = settings.nodeUrl ?? null;
  const self = { id: randomUUID(), url: () => advertised };
  const peers = new PeerNodes(settings.sessionSecret);
  const jobs = new JobService({
    cluster: {
      records: new JobRecords(storage.jobs, self, settings.audioTtlSeconds * 1000, logger),
      peers,
    },
    engine: () => engine,
    wake,
    notReady,
    onActivity,
    encoders,
    formats,
    audio: storage.audio,
    voices,
    queueSize: settings.queueSize,
    maxActivePerOwner: settings.maxActiveJobsPerOwner,
    timeoutMs: settings.jobTimeoutSeconds * 1000,
    maxTextLength: settings.maxTextLength,
    retentionMs: settings.audioTtlSeconds * 1000,
    split: settings.split,
    metrics: metrics.jobs,
    log: logger,
  });
  const audioLinks = new AudioLinks(
    settings.apiKeys.length > 0 || settings.sessionSecret !== undefined,
    settings.sessionSecret,
  );
  const clientIp = createClientIp(trustedProxyList(settings.trustedProxies));
  const http = createInferenceServer({
    context: createApiContext({
      model: () => {
        const { problem: _problem, ...model } = status;
        return { ...model, notReady: notReady() };
      },
      audioFormats: formats.available,
      limits: { maxTextLength: settings.maxTextLength, maxUploadBytes: settings.maxUploadBytes },
      queue: () => {
        const { queued, running } = jobs.stats();
        return { queued, running };
      },
      audioLink: (owner, id, format) => audioLinks.link(owner, id, format),
      voiceLink: (owner, id) => audioLinks.voice(owner, id),
      voices,
      tts: jobs,
    }),
    corsOrigins: settings.corsOrigins,
    logger,
    authenticate: createAuthenticator(settings.apiKeys, settings.sessionSecret),
    audioLinks,
    convertAudio: createAudioConverter(encoders, formats),
    // With credentials, each principal (key or browser session) has its own rate, and callers without a valid
    // one share their address's; without them everyone is the one local user, so addresses tell callers apart.
    rateKey: (req, principal) =>
      principal && principal.id !== LOCAL_OWNER ? `principal:${principal.id}` : `ip:${clientIp(req)}`,
    rateLimit: new RateLimiter(settings.rateLimit),
    limits: {
      maxJsonBytes: settings.maxJsonBytes,
      maxUploadBytes: settings.maxUploadBytes,
      maxSpeechInputLength: settings.maxSpeechInputLength,
      maxConcurrentUploads: settings.maxConcurrentUploads,
      maxConcurrentBodies: settings.maxConcurrentBodies,
    },
    metrics,
    jobs,
    audio: storage.audio,
    nodeId: self.id,
    peers,
    ...(settings.keepAliveSeconds !== undefined && { keepAliveMs: settings.keepAliveSeconds * 1000 }),
    notReady,
    variant: () => engine?.info.variant,
    guided: () => engine?.info.guidance === "cfg",
    configuredVariant: settings.model.variant,
    voices,
    voiceAliases: settings.voiceAliases,
  });
  const { server } = http;

  /** Loads and warms the model; `report` tells readiness what it is doing (not when reloading after idle). */
  const loadOnce = async (report: (problem: NotReady) => void): Promise<Engine> => {
    const { model } = settings;
    const found = await ensureModel(model, (event) => {
      if (event.type === "start")
        report({ category: "downloading", advice: "Downloading the model files; this happens once." });
      if (event.type !== "progress") logger.info({ download: event }, "model download");
    });
    status.manifest = found.manifest;
    report({ category: "loading", advice: "The model is loading." });
    loading = startEngine(found.dir);
    try {
      return await loading;
    } finally {
      loading = undefined;
    }
  };

  /** Starts the workers and warms each up once. */
  const startEngine = async (modelDir: string): Promise<Engine> => {
    const { model } = settings;
    const started = await Engine.start({
      ...loadOptions(model),
      modelDir,
      workers: model.workers,
      rowsPerWorker: model.batchRows,
      log: (message) => logger.warn(message),
      ...settings.engineHooks,
    });
    try {
      // One short synthesis per worker so the first real request does not pay for graph initialization.
      const warmup = {
        text: "Warm up.",
        voice: { samples: syntheticVoice(), key: "warmup" },
        options: resolveSettings(
          started.info.variant,
          { greedy: true, maxTokens: 2 },
          { mode: started.info.guidance, problem: started.info.guidanceProblem },
        ).generation,
      };
      await Promise.all([
        ...Array.from({ length: model.workers }, () => started.synthesize(warmup)),
        encoders.warmUp(),
      ]);
    } catch (error) {
      await started.close();
      throw error;
    }
    return started;
  };

  // Loads until it succeeds or the node shuts down: a hub that is down now or files fixed by an operator later
  // need no restart. Each failure is logged in full; health shows only its category and advice.
  const retry = settings.loadRetryMs ?? { first: 2_000, max: 300_000 };
  const stopRetrying = new AbortController();
  const ready = (async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        engine = await loadOnce((problem) => (status.problem = problem));
        break;
      } catch (error) {
        if (draining) throw error;
        const delayMs = Math.min(retry.max, retry.first * 2 ** (attempt - 1));
        const { category, advice } = classifyModelFailure(error);
        Object.assign(status, { state: "failed", problem: { category, advice } });
        logger.error({ err: error, attempt, retryInMs: delayMs }, "model failed to load; retrying");
        await sleep(delayMs, undefined, { signal: stopRetrying.signal, ref: false });
      }
    }
    Object.assign(status, {
      state: "ready",
      variant: engine.info.variant,
      provider: engine.info.provider,
      guidance: engine.info.guidance,
      guidanceProblem: engine.info.guidanceProblem ?? null,
      problem: null,
    });
    const { model } = settings;
    logger.info(
      {
        variant: engine.info.variant,
        provider: engine.info.provider,
        workers: model.workers,
        threads: model.threads,
        batchRows: model.batchRows,
        guidance: engine.info.guidance,
      },
      "model ready",
    );
    if (engine.info.guidanceProblem)
      logger.warn(
        { guidanceProblem: engine.info.guidanceProblem },
        "English runs without classifier-free guidance (cfgWeight 0): its export cannot build the unconditional row as upstream does",
      );
    onActivity(0);
  })();
  ready.catch(() => undefined); // only shutdown ends it early; nobody need await it

  return {
    server,
    async listen(port, host) {
      const bound = await listen(server, port, host);
      advertised ??= advertisedUrl(host, bound);
      return bound;
    },
    ready,
    engine: () => engine,
    jobs,
    routeNames: http.routeNames,
    async shutdown() {
      draining = true;
      clearTimeout(idleTimer);
      await reloading?.catch(() => undefined);
      stopRetrying.abort();
      http.startDraining();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = performance.now() + settings.drainTimeoutSeconds * 1000;
      const finished =
        (await jobs.drain(settings.drainTimeoutSeconds * 1000)) &&
        (await http.settled(Math.max(0, deadline - performance.now())));
      if (!finished) {
        logger.warn(
          { timeoutSeconds: settings.drainTimeoutSeconds },
          "drain timed out; cutting off unfinished jobs and responses",
        );
        http.cutOff();
      }
      const loaded = await loading?.catch(() => undefined);
      await (engine ?? loaded)?.close();
      await encoders.close();
      await taskProtection?.close();
      server.closeAllConnections();
      await closed;
      await storage.close();
    },
  };
}

/** The URL other nodes reach this one at: its own address, or the machine's first external IPv4 for a wildcard. */
function advertisedUrl(host: string, port: number): string {
  const wildcard = host === "0.0.0.0" || host === "::" || host === "";
  const address =
    (wildcard
      ? Object.values(networkInterfaces())
          .flat()
          .find((entry) => entry && entry.family === "IPv4" && !entry.internal)?.address
      : host) ?? "127.0.0.1";
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
}
