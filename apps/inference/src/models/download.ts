import { mkdir, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";

import { EnvHttpProxyAgent, interceptors, request, type Dispatcher } from "undici";

import { renameDurably, writeSynced } from "../fs/atomic-write";
import { removeIfExists, statIfExists } from "../fs/missing";
import { mapPool } from "../fs/pool";
import {
  backoffMs,
  errorMessage,
  finalError,
  InterruptedError,
  isRetryable,
  ModelDownloadError,
  sizeMismatch,
  statusError,
} from "./download-errors";
import { DownloadProgressTracker, type DownloadProgress } from "./download-progress";
import { header, parseContentLength, parseContentRange } from "./http-headers";
import { DEFAULT_ENDPOINT, fileUrl, localFilePath, type ModelFile, type ModelSpec } from "./registry";

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

let sharedAgent: Dispatcher | undefined;

/**
 * Our own undici agent, not the global dispatcher: once Node's built-in fetch has run, the global slot holds
 * Node's bundled (older) undici, whose handler API this version's interceptors cannot drive.
 */
function defaultDispatcher(): Dispatcher {
  return (sharedAgent ??= new EnvHttpProxyAgent());
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
  progress: DownloadProgressTracker;
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
  const shared: Omit<Context, "signal"> = {
    spec,
    dir: options.dir,
    endpoint: options.endpoint ?? DEFAULT_ENDPOINT,
    token: options.token,
    dispatcher: (options.dispatcher ?? defaultDispatcher()).compose(
      interceptors.redirect({ maxRedirections: 5 }),
    ),
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 500,
    headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 60_000,
    progress: new DownloadProgressTracker(spec.files, options.onProgress, options.progressIntervalMs ?? 100),
  };
  // One failure stops the other transfers (the pool aborts their signal); their partials stay for the next run.
  const outcomes = await mapPool(
    spec.files,
    options.concurrency ?? 4,
    (file, signal) => fetchWithRetries({ ...shared, signal }, file),
    options.signal,
  );
  shared.progress.done();
  const pick = (outcome: Outcome) => spec.files.filter((_, i) => outcomes[i] === outcome).map((f) => f.path);
  return { downloaded: pick("downloaded"), skipped: pick("skipped") };
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
        throw finalError(ctx, file.path, error, attempt);
      }
      ctx.progress.retry(file.path, attempt + 1, errorMessage(error));
      await sleep(backoffMs(ctx.retryDelayMs, attempt), undefined, { signal: ctx.signal });
    }
  }
}

async function fetchOnce(ctx: Context, file: ModelFile, state: { reached: boolean }): Promise<Outcome> {
  const final = localFilePath(ctx.dir, file.path);
  const partial = `${final}.partial`;

  const existing = (await statIfExists(final))?.size;
  if (existing !== undefined) {
    const expected = file.size ?? (await remoteSize(ctx, file, state));
    if (existing === expected) {
      ctx.progress.skip(file.path, existing);
      return "skipped";
    }
    await removeIfExists(final); // a stale or truncated copy
  }
  await mkdir(path.dirname(final), { recursive: true });

  let bytes: number;
  try {
    // Opened before the request so the body can be taken the moment headers arrive (see saveBody).
    bytes = await writeSynced(partial, "a", (handle) => receive(ctx, file, handle, state));
  } catch (error) {
    // An empty partial (say, after a 404) is only clutter.
    const discard =
      (error instanceof InterruptedError && error.discard) ||
      (error instanceof ModelDownloadError && error.code === "size-mismatch") ||
      (await statIfExists(partial))?.size === 0;
    if (discard) await removeIfExists(partial);
    throw error;
  }
  await renameDurably(partial, final);
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
    throw statusError(ctx, file.path, statusCode, url);
  }

  // 200 to a Range request means the server ignored it: start over.
  let start = 0;
  let total = parseContentLength(header(headers, "content-length"));
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
  if (statusCode !== 200) throw statusError(ctx, file.path, statusCode, url);
  const size = parseContentLength(header(headers, "content-length"));
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
