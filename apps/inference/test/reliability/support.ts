// Shared by the reliability suite (`pnpm test:reliability`, docs/reliability.md): the profile, raw and pooled
// HTTP helpers, the "still healthy" check run after every hostile case, a WAV integrity check, and the figures
// report (a table on stdout, plus one JSON line per table under test-results/reliability/).
import { appendFileSync, mkdirSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { cpus, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Pool } from "undici";
import { expect } from "vitest";

import { decodeWav } from "@tts/audio";

import { createLogger, type Logger } from "../../src/logger";
import { FULL, PROFILE } from "./profile";

// ---------------------------------------------------------------------------------------------------------------
// Profile

export { FULL, PROFILE, type Profile } from "./profile";

/** The CI value, or the full profile's. */
export const byProfile = <T>(ci: T, full: T): T => (FULL ? full : ci);

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * A keep-alive connection pool to one node: thousands of fuzz and load requests without a TCP handshake each.
 * Every request has a deadline, so a node that hangs fails the test with the request named instead of timing out
 * the whole file.
 */
export class Http {
  private readonly pool: Pool;

  constructor(
    readonly url: string,
    private readonly defaults: { headers?: Record<string, string>; timeoutMs?: number } = {},
  ) {
    this.pool = new Pool(url, { connections: 8, pipelining: 1, keepAliveTimeout: 4_000 });
  }

  async request(
    method: string,
    target: string,
    options: { headers?: Record<string, string>; body?: string | Uint8Array; timeoutMs?: number } = {},
  ): Promise<Reply> {
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs ?? 30_000;
    try {
      const res = await this.pool.request({
        method,
        path: target,
        headers: { ...this.defaults.headers, ...options.headers },
        body: options.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text, json: parseJson(text) };
    } catch (error) {
      throw new Error(`${method} ${target.slice(0, 300)} got no answer: ${String(error)}`, { cause: error });
    }
  }

  get(target: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request("GET", target, { headers });
  }

  postJson(target: string, body: unknown, headers?: Record<string, string>): Promise<Reply> {
    return this.request("POST", target, {
      headers: { "Content-Type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** `/trpc/<path>?input=<json>`, as tRPC's non-batched GET calls are sent. */
export const trpcQuery = (procedure: string, input?: unknown): string =>
  `/trpc/${procedure}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;

/** The message of an error body, whether tRPC's `{error: {message}}` or the plain routes' `{error: {message}}`. */
export function errorMessage(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const error = (json as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return undefined;
  const message = (error as { message?: unknown }).message;
  return typeof message === "string" ? message : undefined;
}

/** The `data` of a successful non-batched tRPC call. */
export function trpcData<T>(reply: Reply): T {
  expect(reply.status, reply.text.slice(0, 500)).toBe(200);
  return (reply.json as { result: { data: T } }).result.data;
}

/** What a raw exchange over a socket produced. */
export interface RawReply {
  /** The status line's code; NaN when the server closed without answering. */
  status: number;
  head: string;
  body: string;
  /** The whole response as read. */
  raw: string;
  /** A socket error (ECONNRESET, EPIPE) seen before the close, if any. */
  error?: string;
  /** Milliseconds from connecting to the close. */
  ms: number;
}

/**
 * Talks HTTP/1.1 by hand over `node:net`, for what fetch would refuse or normalize: odd targets, oversized or
 * trickled headers, bodies cut halfway. `script` writes to the socket; the promise settles when the server closes
 * the connection (or after `timeoutMs`, which then rejects: the server left a hostile client hanging).
 */
export function rawExchange(
  url: string,
  script: (socket: Socket, answered: () => boolean) => void | Promise<void>,
  timeoutMs = 15_000,
): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = connect(Number(port), hostname);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${timeoutMs} ms without closing it`));
    }, timeoutMs);
    socket.on("connect", () => {
      void Promise.resolve(script(socket, () => chunks.length > 0)).catch((e: unknown) => {
        error ??= String(e);
      });
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on("close", () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("latin1");
      const split = raw.indexOf("\r\n\r\n");
      const head = split < 0 ? raw : raw.slice(0, split);
      const body = split < 0 ? "" : raw.slice(split + 4);
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1]),
        head,
        body: /^transfer-encoding:\s*chunked/im.test(head) ? dechunk(body) : body,
        raw,
        error,
        ms: performance.now() - started,
      });
    });
  });
}

/** The payload of a chunked body (as far as it arrived). */
function dechunk(body: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const line = body.indexOf("\r\n", at);
    if (line < 0) return out;
    const size = Number.parseInt(body.slice(at, line), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += body.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
  }
}

/**
 * One request written by hand; `request` is the whole message, head and body. The client does not half-close
 * (Node's server drops a request whose client has sent FIN before the answer): the server closes after answering
 * (`Connection: close`, or an error it cannot recover from), else the client does once the answer has been
 * quiet for 300 ms.
 */
export const rawRequest = (url: string, request: string | Buffer, timeoutMs?: number): Promise<RawReply> =>
  rawExchange(
    url,
    (socket) => {
      let idle: NodeJS.Timeout | undefined;
      socket.on("data", () => {
        clearTimeout(idle);
        idle = setTimeout(() => socket.destroy(), 300);
      });
      socket.on("close", () => clearTimeout(idle));
      socket.write(request);
    },
    timeoutMs,
  );

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `done` holds for its value (usable in hooks, where expect.poll is not), or throws. */
export async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (performance.now() > deadline)
      throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Node health

/** A logger that keeps error-level lines (a 500's "request failed", a crash's stack) for the test to show. */
export function capturingLogger(): { logger: Logger; errors: Record<string, unknown>[] } {
  const errors: Record<string, unknown>[] = [];
  const logger = createLogger(process.env.RELIABILITY_LOG_LEVEL ?? "warn", {
    write: (line: string) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry.level === "number" && entry.level >= 50) errors.push(entry);
      if (process.env.RELIABILITY_LOG_LEVEL) console.log(line.trim());
    },
  });
  return { logger, errors };
}

/** The body of a short speech request: the cheapest synthesis that goes all the way through the node. */
export const SHORT_SPEECH = {
  model: "tts-1",
  input: "Still here.",
  response_format: "wav",
  max_tokens: 4,
  greedy: true,
};

/**
 * The node is alive and still does its job: /healthz answers 200 and a short synthesis comes back as a valid
 * WAV. Run after every hostile case: a case that wedged the worker, leaked the queue or broke the server fails
 * here, named by `after`.
 */
export async function expectHealthy(url: string, after: string, headers: Record<string, string> = {}) {
  const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) }).catch(
    (error: unknown) => {
      throw new Error(`/healthz did not answer after ${after}: ${String(error)}`);
    },
  );
  expect(health.status, `/healthz after ${after}`).toBe(200);
  const res = await fetch(`${url}/v1/audio/speech`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(SHORT_SPEECH),
    signal: AbortSignal.timeout(30_000),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect(res.status, `a synthesis after ${after}: ${Buffer.from(bytes).toString("utf8").slice(0, 300)}`).toBe(
    200,
  );
  expect(decodeWav(bytes).samples.length, `the synthesis after ${after}`).toBeGreaterThan(0);
}

/** A value from the node's /metrics (0 when the series is absent). */
export async function metric(
  url: string,
  name: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Audio integrity

export interface WavCheck {
  ok: boolean;
  reason: string;
  dataBytes: number;
}

/**
 * A finished WAV file is intact: RIFF/WAVE, its RIFF size is the file's length less 8, its data chunk's declared
 * size is exactly the bytes that follow (not the streaming placeholder), whole frames, and it decodes.
 */
export function checkWav(bytes: Uint8Array): WavCheck {
  const fail = (reason: string, dataBytes = 0): WavCheck => ({ ok: false, reason, dataBytes });
  if (bytes.length < 44) return fail(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset: number) => Buffer.from(bytes.subarray(offset, offset + 4)).toString("latin1");
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") return fail("no RIFF/WAVE header");
  const riffSize = view.getUint32(4, true);
  if (riffSize !== bytes.length - 8)
    return fail(`RIFF size ${riffSize}, file has ${bytes.length - 8} after it`);
  let offset = 12;
  let blockAlign = 0;
  while (offset + 8 <= bytes.length) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    if (id === "fmt ") blockAlign = view.getUint16(offset + 8 + 12, true);
    if (id === "data") {
      const present = bytes.length - offset - 8;
      if (size !== present) return fail(`data chunk declares ${size} bytes, ${present} follow`, present);
      if (blockAlign === 0 || size % blockAlign !== 0)
        return fail(`data size ${size} is not whole frames of ${blockAlign}`, size);
      try {
        decodeWav(bytes);
      } catch (error) {
        return fail(`does not decode: ${String(error)}`, size);
      }
      return { ok: true, reason: "ok", dataBytes: size };
    }
    offset += 8 + size + (size % 2);
  }
  return fail("no data chunk");
}

// ---------------------------------------------------------------------------------------------------------------
// Figures

export interface Figure {
  name: string;
  value: number | string;
  unit?: string;
  /** Human-readable target, e.g. "< 5 %". */
  target?: string;
  /** Whether the value meets the target (undefined: no target). */
  pass?: boolean;
}

const RESULTS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../test-results/reliability",
);
/** One JSON object per reported table, appended as the suite runs (global-setup.ts truncates it at the start). */
export const FIGURES_FILE = path.join(RESULTS_DIR, `figures-${PROFILE}.jsonl`);

export const machine = () => ({
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
});

const formatValue = (value: number | string) =>
  typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) : value;

/** Prints a table of figures (with PASS/MISS against targets) and appends it to the figures file. */
export function report(theme: string, title: string, figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.name,
    `${formatValue(f.value)}${f.unit ? ` ${f.unit}` : ""}`,
    f.target ?? "",
    f.pass === undefined ? "" : f.pass ? "PASS" : "MISS",
  ]);
  const header = ["figure", "value", "target", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const text = [
    `\n[reliability:${PROFILE}] ${theme}: ${title}`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
  // stdout of a test file is shown by vitest's default reporter, grouped under the file.
  console.log(text);
  mkdirSync(RESULTS_DIR, { recursive: true });
  appendFileSync(
    FIGURES_FILE,
    `${JSON.stringify({ date: new Date().toISOString(), profile: PROFILE, theme, title, machine: machine(), figures })}\n`,
  );
}

/** Percentile of `values` (nearest rank), 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
