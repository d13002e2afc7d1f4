import { z } from "zod";

import { deviceSchema, dtypeSchema, ID_PATTERN, variantSchema } from "@tts/api";
import { MIN_SESSION_SECRET_LENGTH, SESSION_PRINCIPAL_PREFIX } from "@tts/api/session-token";

import { MIN_API_KEY_LENGTH, parseApiKey } from "./http/auth";
import { trustedProxyList } from "./http/client-ip";

/** Inference node configuration. The only module that reads process.env (enforced by lint). */
const originSchema = z.string().refine((value) => value === "*" || isOrigin(value), {
  message: 'expected an origin like "https://app.example.com" (scheme://host[:port], no path) or "*"',
});

const count = (min: number, max: number) =>
  z.coerce
    .number({ message: "expected a number" })
    .int("expected a whole number")
    .min(min, `expected at least ${min}`)
    .max(max, `expected at most ${max}`);
const seconds = count(1, 7 * 24 * 3600);
const list = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);

const envSchema = z.object({
  PORT: z.coerce
    .number({ message: "expected a port number" })
    .int("expected a whole number")
    .min(0, "expected a port from 0 to 65535")
    .max(65535, "expected a port from 0 to 65535")
    .default(7860),
  /** Loopback by default: without API_KEYS the node is single-user (see ALLOW_ANONYMOUS). */
  HOST: z.string().min(1).default("127.0.0.1"),
  /** Serve without API keys on a non-loopback HOST anyway (logged as a warning). */
  ALLOW_ANONYMOUS: z
    .enum(["true", "false"], { message: 'expected "true" or "false"' })
    .default("false")
    .transform((value) => value === "true"),
  CORS_ORIGINS: z
    .string()
    .default("http://localhost:3000,http://127.0.0.1:3000")
    .transform((value) =>
      value
        .split(",")
        .map((origin) => origin.trim().replace(/\/$/, ""))
        .filter(Boolean),
    )
    .pipe(z.array(originSchema)),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TTS_MODEL: variantSchema.default("turbo"),
  TTS_DTYPE: dtypeSchema.default("q4"),
  TTS_DEVICE: deviceSchema.default("auto"),
  /** A bundle folder to load as is (no download), e.g. one made by `tts models make-tiny`. */
  TTS_MODEL_DIR: z.string().min(1).optional(),
  TTS_CACHE_DIR: z.string().min(1).optional(),
  XDG_CACHE_HOME: z.string().optional(),
  HOME: z.string().default("/tmp"),
  /**
   * Inference workers (each with its own sessions): a number, or `auto` (the default) to size the pool by the
   * cores and by the memory each worker's copy of the model needs (see autoWorkers).
   */
  TTS_WORKERS: z.union([z.literal("auto"), count(1, 64)]).default("auto"),
  /** ORT threads per worker; defaults to OMP_NUM_THREADS (the usual OpenMP knob), else cores / workers. */
  TTS_THREADS: count(1, 256).optional(),
  /** Syntheses one worker runs at once, sharing each decode step (continuous batching, for GPUs). */
  TTS_BATCH_ROWS: count(1, 64).default(1),
  /** accuracy_level for 4-bit MatMulNBits: 4 (int8 activations, fastest on CPU) or `graph` (the export's own). */
  TTS_MATMUL_ACCURACY: z
    .enum(["4", "graph"], { message: 'expected "4" or "graph"' })
    .default("4")
    .transform((value): 4 | "graph" => (value === "graph" ? "graph" : 4)),
  OMP_NUM_THREADS: count(1, 256).optional(),
  /** Release the model after this many seconds without jobs (0 keeps it loaded); the next job reloads it. */
  TTS_IDLE_UNLOAD_SECONDS: count(0, 30 * 24 * 3600).default(0),
  HF_TOKEN: z.string().min(1).optional(),
  HF_ENDPOINT: z.url({ message: "expected a URL" }).default("https://huggingface.co"),
  /** Voices and stored audio; default under XDG_DATA_HOME or ~/.local/share. */
  DATA_DIR: z.string().min(1).optional(),
  /**
   * Keep voices and audio in this S3 bucket instead of DATA_DIR, so several nodes share them. Credentials and
   * region come from the AWS SDK's usual sources (task role, AWS_REGION, ...).
   */
  S3_BUCKET: z.string().min(3).optional(),
  /** Key prefix inside the bucket, e.g. `prod/`. */
  S3_PREFIX: z.string().default(""),
  /** An S3-compatible endpoint (MinIO, a test server); path-style addressing is used with it. */
  S3_ENDPOINT: z.url({ protocol: /^https?$/, message: "expected a URL like http://minio:9000" }).optional(),
  /** The bucket's region (the SDK's usual variable); an S3-compatible endpoint defaults to us-east-1. */
  AWS_REGION: z.string().min(1).optional(),
  XDG_DATA_HOME: z.string().optional(),
  /**
   * Voice names OpenAI clients may use, mapped to stored voices: `alloy=voice_abc123,narrator=voice_def456`.
   * Global: every caller sees and may use them. Unmapped built-in names mean the model's default voice.
   */
  VOICE_ALIASES: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const aliases = new Map<string, string>();
      for (const entry of (value ?? "")
        .split(",")
        .map((part) => part.trim())
        .filter(Boolean)) {
        const [name = "", id = ""] = entry.split("=").map((part) => part.trim());
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(name) || !ID_PATTERN.test(id)) {
          ctx.addIssue({ code: "custom", message: `expected name=voice_id entries, got "${entry}"` });
          return z.NEVER;
        }
        aliases.set(name.toLowerCase(), id);
      }
      return aliases;
    }),
  /**
   * Comma-separated keys, each `name:key` (the name is the principal that owns what the key creates; keys may
   * share one) or a bare key (its own principal). When set, everything but the open routes needs
   * `Authorization: Bearer <key>`.
   */
  API_KEYS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const keys = list(value);
      // Set but empty of keys (e.g. ","), it would run open by mistake: refuse instead.
      if (value !== undefined && keys.length === 0) {
        ctx.addIssue({ code: "custom", message: "is set but holds no key; unset it to run without keys" });
        return z.NEVER;
      }
      if (keys.some((entry) => parseApiKey(entry).key.length < MIN_API_KEY_LENGTH)) {
        ctx.addIssue({
          code: "custom",
          message: `each API key needs at least ${MIN_API_KEY_LENGTH} characters`,
        });
        return z.NEVER;
      }
      if (keys.some((entry) => parseApiKey(entry).principal.startsWith(SESSION_PRINCIPAL_PREFIX))) {
        ctx.addIssue({
          code: "custom",
          message: `key names must not start with "${SESSION_PRINCIPAL_PREFIX}" (browser sessions use it)`,
        });
        return z.NEVER;
      }
      return keys;
    }),
  /**
   * Shared with the web app's server: it signs the short-lived tokens of browser sessions (each session is its
   * own principal) and the links media elements fetch audio with. Setting it closes the node to anonymous
   * callers, as API_KEYS does.
   */
  TTS_SESSION_SECRET: z
    .string()
    .min(MIN_SESSION_SECRET_LENGTH, `expected at least ${MIN_SESSION_SECRET_LENGTH} characters`)
    .optional(),
  /**
   * Where other nodes on the same storage reach this one (they relay a job's live audio and progress from the
   * node that runs it), e.g. `http://10.0.1.23:8000`. Default: this node's own address and port (the first
   * non-loopback IPv4 address when HOST is a wildcard, which is the task's address on ECS).
   */
  TTS_NODE_URL: z
    .url({ protocol: /^https?$/, message: "expected a URL like http://10.0.1.23:8000" })
    .optional(),
  /** Requests per minute per principal (or client IP without keys) on average; 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: count(0, 1_000_000).default(600),
  /** Requests one caller may send at once before the per-minute rate applies. */
  RATE_LIMIT_BURST: count(1, 1_000_000).default(60),
  /** Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client; no one's by default. */
  TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const entries = list(value);
      try {
        trustedProxyList(entries);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
      return entries;
    }),
  /** Voice uploads received at once; more get 503 with Retry-After. */
  MAX_CONCURRENT_UPLOADS: count(1, 10_000).default(4),
  /** Other request bodies received at once. */
  MAX_CONCURRENT_BODIES: count(1, 100_000).default(64),
  /** Voices one principal may keep. */
  MAX_VOICES_PER_KEY: count(1, 1_000_000).default(100),
  /** Voices are deleted this long after their upload; 0 keeps them until deleted. */
  VOICE_TTL_SECONDS: count(0, 100 * 365 * 24 * 3600).default(0),
  /** Writes (voices, audio) are refused with 507 while less than this is free on the data disk. */
  MIN_FREE_DISK_MB: count(0, 10_000_000).default(256),
  AUDIO_TTL_SECONDS: seconds.default(3600),
  QUEUE_SIZE: count(1, 10_000).default(16),
  /** Jobs one principal (API key or browser session) may have queued or running at once; not the keyless user. */
  MAX_ACTIVE_JOBS_PER_KEY: count(1, 10_000).default(4),
  JOB_TIMEOUT_SECONDS: seconds.default(300),
  DRAIN_TIMEOUT_SECONDS: seconds.default(60),
  /**
   * How long an idle keep-alive connection stays open. Keep it above the load balancer's idle timeout (AWS ALB:
   * 60 s by default), so the balancer closes first; otherwise a request it sends as the node closes is lost (502).
   */
  HTTP_KEEP_ALIVE_SECONDS: count(1, 4_100).default(65),
  /** Set by ECS in each task: the node protects its task from scale-in while it has jobs. */
  ECS_AGENT_URI: z.url({ message: "expected the ECS agent's URL" }).optional(),
  /** Characters per stored job (tRPC): long texts are split into sentences and streamed as one. */
  MAX_TEXT_LENGTH: count(1, 10_000_000).default(100_000),
  /** Characters per `/v1/audio/speech` request, which answers with its audio (OpenAI's limit: 4096). */
  MAX_SPEECH_INPUT_LENGTH: count(1, 1_000_000).default(4096),
  /** Long texts are synthesized in chunks of at most this many characters (sentences, then clauses). */
  TTS_CHUNK_MAX_CHARS: count(50, 2000).default(300),
  /** Silence between chunks, by what ended the chunk. */
  PAUSE_PARAGRAPH_MS: count(0, 5000).default(500),
  PAUSE_SENTENCE_MS: count(0, 5000).default(250),
  PAUSE_CLAUSE_MS: count(0, 5000).default(120),
  /** Speech tokens (40 ms each) before the first audio is decoded: lower is sooner, higher is fewer calls. */
  TTS_STREAM_FIRST_TOKENS: count(1, 1000).default(12),
  /** Speech tokens per later chunk (chunks grow from here up to 4x). */
  TTS_STREAM_CHUNK_TOKENS: count(1, 1000).default(24),
  MAX_UPLOAD_BYTES: count(1_000, 1_000_000_000).default(25_000_000),
  MAX_JSON_BYTES: count(1_000, 100_000_000).default(1_000_000),
  /** The ffmpeg that encodes opus, aac and flac; default `ffmpeg` on PATH (without one, those formats get 501). */
  FFMPEG_PATH: z.string().min(1).optional(),
});

export type InferenceEnv = z.infer<typeof envSchema>;

/** Values never echoed back in error messages. */
const SECRET = /TOKEN|KEY|SECRET|PASSWORD/;

export class EnvError extends Error {
  override name = "EnvError";
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
  } catch {
    return false;
  }
}

/**
 * Validates a raw environment. Empty values count as unset, so `PORT=` keeps the default.
 * Throws EnvError naming every bad variable, its value and what was expected.
 */
export function parseEnv(source: Record<string, string | undefined>): InferenceEnv {
  const present = Object.fromEntries(
    Object.entries(source).filter(
      ([key, value]) => key in envSchema.shape && value !== undefined && value !== "",
    ),
  );
  const result = envSchema.safeParse(present);
  if (result.success) {
    const env = result.data;
    if (env.S3_BUCKET && env.API_KEYS.length > 0 && !env.TTS_SESSION_SECRET)
      throw new EnvError(
        "Invalid inference node configuration:\n  - TTS_SESSION_SECRET is unset: S3_BUCKET with API_KEYS needs it, " +
          "since nodes sharing a bucket use it to act for a caller on a job another node runs (docs/many-nodes.md).",
      );
    return env;
  }
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0]);
    const shown = SECRET.test(key) ? "(hidden)" : JSON.stringify(present[key]);
    return `  - ${key}=${shown}: ${issue.message}`;
  });
  throw new EnvError(`Invalid inference node configuration:\n${problems.join("\n")}`);
}

export function loadEnv(): InferenceEnv {
  return parseEnv(process.env);
}
