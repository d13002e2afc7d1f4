import type { FileHandle } from "node:fs/promises";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";

import type { Dispatcher } from "undici";
import { EnvHttpProxyAgent, interceptors, request } from "undici";

import type { ModelFile, ModelSpec } from "./registry";
import { DEFAULT_ENDPOINT, fileUrl } from "./registry";

export interface DownloadProgress {
  type: "start" | "progress" | "file-done" | "skip" | "retry" | "done";
  file?: string;
  bytes?: number;
  total?: number;
  overallBytes?: number;
  /** Sum of the sizes known so far: grows as the server reveals sizes the registry does not pin. */
  overallTotal?: number;
  /** On "retry": the attempt about to start (2 = first retry). */
  attempt?: number;
  error?: string;
}

export interface DownloadOptions {
  dir: string;
  endpoint?: string;
  /** Files fetched at once (default 4). */
  concurrency?: number;
  /** Hugging Face access token, sent as `Authorization: Bearer` (dropped on cross-origin redirects). */
  token?: string;
  onProgress?: (event: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Extra attempts per file after a dropped connection or a 5xx (default 5). */
  retries?: number;
  /** First backoff delay; doubles per attempt up to 30 s (default 500 ms). */
  retryDelayMs?: number;
  /** Defaults to an agent that honours HTTP(S)_PROXY / NO_PROXY. */
  dispatcher?: Dispatcher;
  /** Time to wait for response headers (default 30 s). */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks (default 60 s). */
  bodyTimeoutMs?: number;
  /** Minimum gap between two "progress" events of one file (default 100 ms). */
  progressIntervalMs?: number;
}

export type DownloadErrorCode =
  "unreachable" | "unauthorized" | "not-found" | "http" | "size-mismatch" | "network";

export class ModelDownloadError extends Error {
  override name = "ModelDownloadError";

  readonly status: number | undefined;

  constructor(
    message: string,
    readonly file: string,
    readonly code: DownloadErrorCode,
    options: ErrorOptions & { status?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}

// Failures that mean the host was never reached (as opposed to a connection dropping mid-transfer).
let sharedAgent: Dispatcher | undefined;

/**
 * Our own undici agent, not the global dispatcher: once Node's built-in fetch has run, the global slot holds
 * Node's bundled (older) undici, whose handler API this version's interceptors cannot drive.
 */
function defaultDispatcher(): Dispatcher {
  return (sharedAgent ??= new EnvHttpProxyAgent());
}

const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const DROPPED = new Set(["ECONNRESET", "ECONNABORTED", "EPIPE"]);

/** A transfer that ended early or could not resume where asked: worth another attempt. */
class InterruptedError extends Error {
  /** The partial cannot be resumed: start the next attempt from zero. */
  readonly discard: boolean;

  constructor(message: string, { discard = false } = {}) {
    super(message);
    this.discard = discard;
  }
}

interface Context {
  spec: ModelSpec;
  dir: string;
  endpoint: string;
  token: string | undefined;
  dispatcher: Dispatcher;
  signal: AbortSignal;
  retries: number;
  retryDelayMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  progress: ProgressTracker;
}

type Outcome = "downloaded" | "skipped";

/**
 * Fetches every file of `spec` into `dir`, skipping complete ones and resuming `.partial` ones.
 * A final file only ever appears complete: bytes land in `{file}.partial`, which is size-checked, synced
 * and renamed.
 */
export async function downloadModel(
  spec: ModelSpec,
  options: DownloadOptions,
): Promise<{ downloaded: string[]; skipped: string[] }> {
  // One failure stops the other transfers; their partials stay on disk for the next run.
  const stopAll = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stopAll.signal]) : stopAll.signal;
  const ctx: Context = {
    spec,
    dir: options.dir,
    endpoint: options.endpoint ?? DEFAULT_ENDPOINT,
    token: options.token,
    dispatcher: (options.dispatcher ?? defaultDispatcher()).compose(
      interceptors.redirect({ maxRedirections: 5 }),
    ),
    signal,
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 500,
    headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 60_000,
    progress: new ProgressTracker(spec.files, options.onProgress, options.progressIntervalMs ?? 100),
  };

  const queue = [...spec.files];
  const outcomes = new Map<string, Outcome>();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file && !failure; file = queue.shift()) {
      try {
        outcomes.set(file.path, await fetchWithRetries(ctx, file));
      } catch (error) {
        failure ??= { error };
        stopAll.abort(error);
      }
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 4, spec.files.length));
  await Promise.all(Array.from({ length: workers }, worker));

  if (options.signal?.aborted) throw options.signal.reason;
  if (failure) throw failure.error;
  ctx.progress.done();
  const pick = (outcome: Outcome) => spec.files.map((f) => f.path).filter((p) => outcomes.get(p) === outcome);
  return { downloaded: pick("downloaded"), skipped: pick("skipped") };
}

/** Checks that every file is present, non-empty and, where the registry pins it, of the right size. */
export async function verifyModel(
  spec: ModelSpec,
  dir: string,
): Promise<{ ok: boolean; problems: string[] }> {
  const found = await Promise.all(spec.files.map((file) => sizeOf(localPath(dir, file.path))));
  const problems = spec.files.flatMap((file, i) => {
    const size = found[i];
    if (size === undefined) return [`missing: ${file.path}`];
    if (size === 0) return [`empty: ${file.path}`];
    if (file.size !== undefined && size !== file.size) {
      return [`wrong size: ${file.path} (expected ${file.size} bytes, found ${size})`];
    }
    return [];
  });
  return { ok: problems.length === 0, problems };
}

async function fetchWithRetries(ctx: Context, file: ModelFile): Promise<Outcome> {
  // Unreachable on the first try means offline: fail fast. Once the host has answered, it is a blip: retry.
  const state = { reached: false };
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchOnce(ctx, file, state);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      if (!isRetryable(error, state.reached) || attempt > ctx.retries) {
        throw finalError(ctx, file, error, attempt);
      }
      ctx.progress.retry(file.path, attempt + 1, errorMessage(error));
      const delay = Math.min(ctx.retryDelayMs * 2 ** (attempt - 1), 30_000);
      await sleep(delay, undefined, { signal: ctx.signal });
    }
  }
}

function isRetryable(error: unknown, reached: boolean): boolean {
  if (error instanceof ModelDownloadError) {
    return (
      error.code === "http" && error.status !== undefined && (error.status >= 500 || error.status === 429)
    );
  }
  if (error instanceof InterruptedError) return true;
  const code = errorCode(error) ?? "";
  // Local failures (disk full, permissions) are not retried: another attempt would fail the same way.
  return code.startsWith("UND_ERR_") || DROPPED.has(code) || (reached && UNREACHABLE.has(code));
}

async function fetchOnce(ctx: Context, file: ModelFile, state: { reached: boolean }): Promise<Outcome> {
  const final = localPath(ctx.dir, file.path);
  const partial = `${final}.partial`;

  const existing = await sizeOf(final);
  if (existing !== undefined) {
    const expected = file.size ?? (await remoteSize(ctx, file, state));
    if (existing === expected) {
      ctx.progress.skip(file.path, existing);
      return "skipped";
    }
    await rm(final, { force: true }); // a stale or truncated copy
  }
  await mkdir(path.dirname(final), { recursive: true });

  // Opened before the request so the body can be taken the moment headers arrive (see saveBody).
  const handle = await open(partial, "a");
  let bytes: number;
  try {
    bytes = await receive(ctx, file, handle, state);
    await handle.sync();
  } catch (error) {
    await handle.close();
    // An empty partial (say, after a 404) is only clutter.
    const discard =
      (error instanceof InterruptedError && error.discard) ||
      (error instanceof ModelDownloadError && error.code === "size-mismatch") ||
      (await sizeOf(partial)) === 0;
    if (discard) await rm(partial, { force: true });
    throw error;
  }
  await handle.close();
  await rename(partial, final);
  ctx.progress.fileDone(file.path, bytes);
  return "downloaded";
}

/** Appends the rest of `file` to the open partial; returns the complete size. */
async function receive(
  ctx: Context,
  file: ModelFile,
  handle: FileHandle,
  state: { reached: boolean },
): Promise<number> {
  let offset = (await handle.stat()).size;
  if (file.size !== undefined && offset > file.size) {
    await handle.truncate(0);
    offset = 0;
  }
  const url = fileUrl(ctx.spec, file.path, ctx.endpoint);
  const { statusCode, headers, body } = await send(
    ctx,
    url,
    "GET",
    offset > 0 ? `bytes=${offset}-` : undefined,
  );
  state.reached = true;

  if (statusCode === 416 && offset > 0) {
    await body.dump();
    // The partial may already hold the whole file (a run stopped between the last byte and the rename).
    const total = parseContentRange(header(headers, "content-range"))?.total;
    if (total === offset && (file.size === undefined || file.size === offset)) return offset;
    throw new InterruptedError(`server refused to resume ${file.path} at byte ${offset}`, { discard: true });
  }
  if (statusCode !== 200 && statusCode !== 206) {
    await body.dump();
    throw statusError(ctx, file, statusCode, url);
  }

  // 200 to a Range request means the server ignored it: start over.
  let start = 0;
  let total = parseLength(header(headers, "content-length"));
  if (statusCode === 206) {
    const range = parseContentRange(header(headers, "content-range"));
    if (range?.start !== offset) {
      await body.dump();
      const got = header(headers, "content-range");
      throw new InterruptedError(`unexpected Content-Range for ${file.path}: ${got}`, { discard: true });
    }
    start = offset;
    total = range.total;
  }
  if (file.size !== undefined && total !== undefined && total !== file.size) {
    await body.dump();
    throw sizeMismatch(file.path, file.size, total);
  }
  const expected = file.size ?? total;

  ctx.progress.start(file.path, start, expected);
  let bytes = start;
  await saveBody(body, handle, start === 0 && offset > 0, (written) => {
    bytes += written;
    ctx.progress.update(file.path, bytes);
  });
  if (expected !== undefined && bytes < expected) {
    throw new InterruptedError(`connection closed after ${bytes} of ${expected} bytes of ${file.path}`);
  }
  if (expected !== undefined && bytes !== expected) throw sizeMismatch(file.path, expected, bytes);
  return bytes;
}

// Bytes waiting for the disk before the socket is paused.
const MAX_QUEUED = 4 * 1024 * 1024;

/**
 * Writes every chunk the moment it arrives. A socket error destroys the stream together with the chunks still
 * buffered in it, so the listener is attached before any await, and a resume starts from every received byte.
 * `restart` empties the partial first (the handle appends, so writes then start at byte 0).
 */
async function saveBody(
  body: Readable,
  handle: FileHandle,
  restart: boolean,
  onWritten: (bytes: number) => void,
): Promise<void> {
  let queued = 0;
  let writeError: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    writeError ??= { error };
    body.destroy();
  };
  let writes = restart ? handle.truncate(0).catch(fail) : Promise.resolve();
  body.on("data", (chunk: Buffer) => {
    queued += chunk.length;
    if (queued >= MAX_QUEUED) body.pause();
    writes = writes.then(async () => {
      if (writeError) return;
      try {
        await handle.appendFile(chunk);
      } catch (error) {
        fail(error);
        return;
      }
      queued -= chunk.length;
      onWritten(chunk.length);
      if (body.isPaused() && queued < MAX_QUEUED / 2) body.resume();
    });
  });
  const received = await finished(body).then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  await writes;
  if (writeError) throw writeError.error;
  if (received) throw received.error;
}

/** The server's size for a file the registry does not pin (to decide whether a local copy is complete). */
async function remoteSize(ctx: Context, file: ModelFile, state: { reached: boolean }): Promise<number> {
  const url = fileUrl(ctx.spec, file.path, ctx.endpoint);
  const { statusCode, headers, body } = await send(ctx, url, "HEAD");
  state.reached = true;
  await body.dump();
  if (statusCode !== 200) throw statusError(ctx, file, statusCode, url);
  const size = parseLength(header(headers, "content-length"));
  if (size === undefined) {
    throw new ModelDownloadError(`No Content-Length for ${file.path} from ${url}`, file.path, "http", {
      status: statusCode,
    });
  }
  return size;
}

function send(
  ctx: Context,
  url: string,
  method: "GET" | "HEAD",
  range?: string,
): Promise<Dispatcher.ResponseData> {
  // identity: a compressed body would make Content-Length describe the wrong bytes.
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (range) headers.range = range;
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  return request(url, {
    method,
    headers,
    dispatcher: ctx.dispatcher,
    signal: ctx.signal,
    headersTimeout: ctx.headersTimeoutMs,
    bodyTimeout: ctx.bodyTimeoutMs,
  });
}

function statusError(ctx: Context, file: ModelFile, status: number, url: string): ModelDownloadError {
  const { repo, revision } = ctx.spec;
  if (status === 401 || status === 403) {
    const hint = ctx.token
      ? `The token was rejected: check that HF_TOKEN is valid and can read ${repo}.`
      : `If ${repo} is gated or private, set HF_TOKEN to a Hugging Face access token with read access ` +
        `(https://huggingface.co/settings/tokens).`;
    const message = `Access denied (HTTP ${status}) for ${url}. ${hint}`;
    return new ModelDownloadError(message, file.path, "unauthorized", { status });
  }
  if (status === 404) {
    return new ModelDownloadError(
      `${file.path} not found in ${repo} at pinned revision ${revision} (repository moved?). URL: ${url}`,
      file.path,
      "not-found",
      { status },
    );
  }
  return new ModelDownloadError(`HTTP ${status} for ${url}`, file.path, "http", { status });
}

function sizeMismatch(file: string, expected: number, actual: number): ModelDownloadError {
  return new ModelDownloadError(
    `Size mismatch for ${file}: expected ${expected} bytes, got ${actual}. The partial download was deleted.`,
    file,
    "size-mismatch",
  );
}

/** Turns the last failure into advice; local errors (disk, permissions) pass through unchanged. */
function finalError(ctx: Context, file: ModelFile, error: unknown, attempts: number): unknown {
  if (error instanceof ModelDownloadError) {
    if (error.code !== "http" || attempts === 1) return error;
    return new ModelDownloadError(`${error.message} (after ${attempts} attempts)`, file.path, "http", {
      status: error.status,
      cause: error,
    });
  }
  const code = errorCode(error);
  if (code && UNREACHABLE.has(code)) {
    return new ModelDownloadError(
      `Cannot reach ${ctx.endpoint} (${code}). Check your internet connection or proxy, ` +
        `or copy the model files into ${ctx.dir} (see \`tts models list\`).`,
      file.path,
      "unreachable",
      { cause: error },
    );
  }
  if (!isRetryable(error, true)) return error;
  return new ModelDownloadError(
    `Downloading ${file.path} failed after ${attempts} attempts (${errorMessage(error)}). ` +
      `Run the command again to resume from the bytes already saved.`,
    file.path,
    "network",
    { cause: error },
  );
}

class ProgressTracker {
  private readonly files = new Map<string, { bytes: number; total?: number; lastEmit: number }>();

  constructor(
    files: readonly ModelFile[],
    private readonly listener: ((event: DownloadProgress) => void) | undefined,
    private readonly intervalMs: number,
  ) {
    for (const file of files) {
      this.files.set(
        file.path,
        file.size === undefined ? { bytes: 0, lastEmit: 0 } : { bytes: 0, total: file.size, lastEmit: 0 },
      );
    }
  }

  start(file: string, bytes: number, total: number | undefined): void {
    this.set(file, bytes, total);
    this.emit("start", file);
  }

  update(file: string, bytes: number): void {
    const state = this.set(file, bytes);
    const now = performance.now();
    if (now - state.lastEmit < this.intervalMs) return;
    state.lastEmit = now;
    this.emit("progress", file);
  }

  fileDone(file: string, bytes: number): void {
    this.set(file, bytes, bytes);
    this.emit("file-done", file);
  }

  skip(file: string, bytes: number): void {
    this.set(file, bytes, bytes);
    this.emit("skip", file);
  }

  retry(file: string, attempt: number, error: string): void {
    this.emit("retry", file, { attempt, error });
  }

  done(): void {
    this.emit("done");
  }

  private set(file: string, bytes: number, total?: number) {
    const state = this.files.get(file) ?? { bytes: 0, lastEmit: 0 };
    state.bytes = bytes;
    if (total !== undefined) state.total = total;
    this.files.set(file, state);
    return state;
  }

  private emit(type: DownloadProgress["type"], file?: string, extra?: Partial<DownloadProgress>): void {
    if (!this.listener) return;
    let overallBytes = 0;
    let overallTotal = 0;
    for (const state of this.files.values()) {
      overallBytes += state.bytes;
      overallTotal += state.total ?? 0;
    }
    const state = file === undefined ? undefined : this.files.get(file);
    this.listener({
      type,
      file,
      bytes: state?.bytes,
      total: state?.total,
      overallBytes,
      overallTotal,
      ...extra,
    });
  }
}

function localPath(dir: string, file: string): string {
  return path.join(dir, ...file.split("/"));
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

function header(headers: Dispatcher.ResponseData["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

// `bytes 100-199/1000` gives start 100, total 1000; `bytes */1000` (on a 416) gives only the total.
function parseContentRange(value: string | undefined): { start?: number; total?: number } | undefined {
  const match = /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(value?.trim() ?? "");
  if (!match) return undefined;
  return {
    start: match[1] === undefined ? undefined : Number(match[1]),
    total: match[2] === "*" || match[2] === undefined ? undefined : Number(match[2]),
  };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, errors, cause } = error as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === "string") return code;
  // Happy-eyeballs connects fail with an AggregateError of one error per address.
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  return cause === undefined ? undefined : errorCode(cause);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
