import { describe, expect, it } from "vitest";

import { EnvError, parseEnv } from "../src/env";

describe("parseEnv", () => {
  it("reads VOICE_ALIASES as lowercase names mapped to voice ids, and names a malformed entry", () => {
    expect(
      parseEnv({ VOICE_ALIASES: "Alloy=voice_abc12345, narrator = voice_def67890" }).VOICE_ALIASES,
    ).toEqual(
      new Map([
        ["alloy", "voice_abc12345"],
        ["narrator", "voice_def67890"],
      ]),
    );
    expect(() => parseEnv({ VOICE_ALIASES: "alloy=../../etc" })).toThrow(
      /VOICE_ALIASES=.*expected name=voice_id entries, got "alloy=..\/..\/etc"/,
    );
  });

  it("applies defaults compatible with the earlier Python service", () => {
    expect(parseEnv({})).toEqual({
      PORT: 7860,
      HOST: "127.0.0.1",
      ALLOW_ANONYMOUS: false,
      CORS_ORIGINS: ["http://localhost:3000", "http://127.0.0.1:3000"],
      LOG_LEVEL: "info",
      TTS_MODEL: "turbo",
      TTS_DTYPE: "q4",
      TTS_DEVICE: "auto",
      TTS_WORKERS: "auto",
      TTS_BATCH_ROWS: 1,
      TTS_MATMUL_ACCURACY: 4,
      TTS_IDLE_UNLOAD_SECONDS: 0,
      HOME: "/tmp",
      HF_ENDPOINT: "https://huggingface.co",
      VOICE_ALIASES: new Map(),
      API_KEYS: [],
      RATE_LIMIT_PER_MINUTE: 600,
      RATE_LIMIT_BURST: 60,
      TRUSTED_PROXIES: [],
      MAX_CONCURRENT_UPLOADS: 4,
      MAX_CONCURRENT_BODIES: 64,
      MAX_VOICES_PER_KEY: 100,
      VOICE_TTL_SECONDS: 0,
      MIN_FREE_DISK_MB: 256,
      AUDIO_TTL_SECONDS: 3600,
      QUEUE_SIZE: 16,
      MAX_ACTIVE_JOBS_PER_KEY: 4,
      S3_PREFIX: "",
      JOB_TIMEOUT_SECONDS: 300,
      DRAIN_TIMEOUT_SECONDS: 60,
      HTTP_KEEP_ALIVE_SECONDS: 65,
      MAX_TEXT_LENGTH: 100_000,
      MAX_SPEECH_INPUT_LENGTH: 4096,
      TTS_CHUNK_MAX_CHARS: 300,
      PAUSE_PARAGRAPH_MS: 500,
      PAUSE_SENTENCE_MS: 250,
      PAUSE_CLAUSE_MS: 120,
      TTS_STREAM_FIRST_TOKENS: 12,
      TTS_STREAM_CHUNK_TOKENS: 24,
      MAX_UPLOAD_BYTES: 25_000_000,
      MAX_JSON_BYTES: 1_000_000,
    });
  });

  it("takes TTS_WORKERS as a number or auto, and TTS_MATMUL_ACCURACY as 4 or graph", () => {
    expect(parseEnv({ TTS_WORKERS: "3" }).TTS_WORKERS).toBe(3);
    expect(parseEnv({ TTS_WORKERS: "auto" }).TTS_WORKERS).toBe("auto");
    expect(parseEnv({ TTS_MATMUL_ACCURACY: "graph" }).TTS_MATMUL_ACCURACY).toBe("graph");
    expect(parseEnv({ TTS_MATMUL_ACCURACY: "4" }).TTS_MATMUL_ACCURACY).toBe(4);
  });

  it("coerces and normalizes valid values, treating empty ones as unset", () => {
    const env = parseEnv({
      PORT: "8080",
      HOST: "",
      CORS_ORIGINS: "https://app.example.com/, http://localhost:5173",
    });
    expect(env.PORT).toBe(8080);
    expect(env.HOST).toBe("127.0.0.1");
    expect(env.CORS_ORIGINS).toEqual(["https://app.example.com", "http://localhost:5173"]);
  });

  it("rejects a bad port naming the variable, its value and the expectation", () => {
    expect(() => parseEnv({ PORT: "http" })).toThrow(EnvError);
    expect(() => parseEnv({ PORT: "http" })).toThrow(/PORT="http": expected a port number/);
    expect(() => parseEnv({ PORT: "70000" })).toThrow(/PORT="70000": expected a port from 0 to 65535/);
    expect(() => parseEnv({ PORT: "78.5" })).toThrow(/PORT="78.5": expected a whole number/);
  });

  it("rejects bad model settings, naming the allowed values", () => {
    expect(() => parseEnv({ TTS_DTYPE: "q3" })).toThrow(
      /TTS_DTYPE="q3": Invalid option: expected one of "fp32"\|"fp16"\|"q8"\|"q4"\|"q4f16"/,
    );
    expect(() => parseEnv({ TTS_WORKERS: "0" })).toThrow(/TTS_WORKERS="0"/);
    expect(() => parseEnv({ TTS_WORKERS: "many" })).toThrow(/TTS_WORKERS="many"/);
    expect(() => parseEnv({ TTS_MATMUL_ACCURACY: "2" })).toThrow(
      /TTS_MATMUL_ACCURACY="2": expected "4" or "graph"/,
    );
    expect(() => parseEnv({ OMP_NUM_THREADS: "four" })).toThrow(/OMP_NUM_THREADS="four": expected a number/);
    expect(() => parseEnv({ HF_ENDPOINT: "not a url" })).toThrow(/HF_ENDPOINT="not a url"/);
  });

  it("never echoes an API key back, even a rejected one", () => {
    expect(() => parseEnv({ API_KEYS: "short-secret" })).toThrow(
      /API_KEYS=\(hidden\): each API key needs at least 16 characters/,
    );
    expect(() => parseEnv({ API_KEYS: "short-secret" })).not.toThrow(/short-secret/);
    // Set, but without a single key: refused rather than running open.
    expect(() => parseEnv({ API_KEYS: " , ," })).toThrow(/API_KEYS=\(hidden\): is set but holds no key/);
    expect(() => parseEnv({ QUEUE_SIZE: "0" })).toThrow(/QUEUE_SIZE="0": expected at least 1/);
    // A named key's secret part is what must be long enough, and stays hidden too.
    expect(() => parseEnv({ API_KEYS: "alice:short-secret" })).toThrow(/each API key needs at least 16/);
    expect(parseEnv({ API_KEYS: "alice:0123456789abcdef" }).API_KEYS).toEqual(["alice:0123456789abcdef"]);
    // Browser sessions are the principals "session-<id>": no key may be named like one.
    expect(() => parseEnv({ API_KEYS: "session-abc:0123456789abcdef" })).toThrow(
      /API_KEYS=\(hidden\): key names must not start with "session-"/,
    );
  });

  it("reads the S3 storage settings, refusing an endpoint that is not a URL", () => {
    expect(
      parseEnv({ S3_BUCKET: "tts-data", S3_PREFIX: "prod/", S3_ENDPOINT: "http://minio:9000" }),
    ).toMatchObject({
      S3_BUCKET: "tts-data",
      S3_PREFIX: "prod/",
      S3_ENDPOINT: "http://minio:9000",
    });
    expect(() => parseEnv({ S3_ENDPOINT: "minio:9000" })).toThrow(/S3_ENDPOINT="minio:9000": expected a URL/);
  });

  it("needs the shared secret on a bucket with keys (nodes act for callers on each other's jobs), not without", () => {
    const keys = { S3_BUCKET: "tts-data", API_KEYS: "alice:alice-key-0123456789" };
    expect(() => parseEnv(keys)).toThrow(/TTS_SESSION_SECRET is unset: S3_BUCKET with API_KEYS needs it/);
    expect(parseEnv({ ...keys, TTS_SESSION_SECRET: "s".repeat(32) }).S3_BUCKET).toBe("tts-data");
    expect(parseEnv({ API_KEYS: keys.API_KEYS }).API_KEYS).toHaveLength(1);
    // The valid node settings of TTS_NODE_URL, as other nodes must reach it.
    expect(parseEnv({ TTS_NODE_URL: "http://10.0.1.23:7860" }).TTS_NODE_URL).toBe("http://10.0.1.23:7860");
    expect(() => parseEnv({ TTS_NODE_URL: "10.0.1.23:7860" })).toThrow(/TTS_NODE_URL="10.0.1.23:7860"/);
  });

  it("takes a session secret of 32+ characters, never echoing it", () => {
    const secret = "s".repeat(32);
    expect(parseEnv({ TTS_SESSION_SECRET: secret }).TTS_SESSION_SECRET).toBe(secret);
    expect(() => parseEnv({ TTS_SESSION_SECRET: "too-short-secret" })).toThrow(
      /TTS_SESSION_SECRET=\(hidden\): expected at least 32 characters/,
    );
    expect(() => parseEnv({ TTS_SESSION_SECRET: "too-short-secret" })).not.toThrow(/too-short-secret/);
  });

  it("reads rate limits and trusted proxies, refusing entries that are not addresses", () => {
    const env = parseEnv({ RATE_LIMIT_PER_MINUTE: "0", TRUSTED_PROXIES: "10.0.0.0/8, ::1" });
    expect(env.RATE_LIMIT_PER_MINUTE).toBe(0);
    expect(env.TRUSTED_PROXIES).toEqual(["10.0.0.0/8", "::1"]);
    expect(() => parseEnv({ TRUSTED_PROXIES: "lb.internal" })).toThrow(
      /TRUSTED_PROXIES="lb.internal": "lb.internal" is not an IP address or CIDR range/,
    );
  });

  it("lists every bad variable at once", () => {
    let message = "";
    try {
      parseEnv({
        PORT: "-1",
        CORS_ORIGINS: "https://ok.example.com,https://bad.example.com/path",
        LOG_LEVEL: "loud",
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^Invalid inference node configuration:/);
    expect(message).toMatch(/PORT="-1"/);
    expect(message).toMatch(/CORS_ORIGINS=.*expected an origin like/);
    expect(message).toMatch(/LOG_LEVEL="loud"/);
  });
});
