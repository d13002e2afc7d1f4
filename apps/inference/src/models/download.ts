import { mkdir, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";

import { EnvHttpProxyAgent, interceptors, request, type Dispatcher } from "undici";

import { renameDurably, writeSynced } from "../fs/atomic-write";
import { withFileLock, type FileLockOptions } from "../fs/file-lock";
import { removeIfExists, statIfExists } from "../fs/missing";
import { mapPool } from "../fs/pool";
import {
  backoffMs,
  errorMessage,
  finalError,
  hashMismatch,
  InterruptedError,
  isRetryable,
  ModelDownloadError,
  sizeMismatch,
  statusError,
  unrepairedError,
} from "./download-errors";
import { DownloadProgressTracker, type DownloadProgress } from "./download-progress";
import { ContentHasher, digestOfKind, hashFile, hashPrefix, type Digest } from "./hashing";
import { header, parseContentLength, parseContentRange } from "./http-headers";
import {
  checkEntry,
  ManifestError,
  readManifest,
  writeManifest,
  type Manifest,
  type ManifestEntry,
} from "./manifest";
import { nextPage, parseTreePage, publishedFromHeaders, treeUrl, type PublishedFile } from "./published";
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
  /** Rehash files already in place even where size and mtime match the manifest (`tts models pull`). */
  rehashExisting?: boolean;
  /** The lock that keeps processes sharing the cache (tasks on one EFS volume) from downloading it at once. */
  lock?: Pick<FileLockOptions, "staleMs" | "pollMs">;
}

export interface DownloadResult {
  downloaded: string[];
  skipped: string[];
  /** Files the hub publishes no hash for: kept after a size check only (each also reported as a "warning"). */
  unverified: string[];
  manifest: Manifest;
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
  /** Follows redirects (to the CDN): for transfers. */
  dispatcher: Dispatcher;
  /** Follows none: a resolve URL's own response carries the hash headers (see published.ts). */
  directDispatcher: Dispatcher;
  signal: AbortSignal;
  retries: number;
  retryDelayMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  progress: DownloadProgressTracker;
  rehashExisting: boolean;
  /** The manifest's entries from an earlier run, by path. */
  previous: Map<string, ManifestEntry>;
  hub: HubMetadata;
}

interface FileState {
  /** The host has answered this file's requests before. */
  reached: boolean;
  hashRetried: boolean;
  /** Why the copy already in place was deleted, for the error should the fresh download fail. */
  corruption?: string;
}

interface Saved {
  outcome: "downloaded" | "skipped";
  entry: ManifestEntry;
}

/**
 * Fetches every file of `spec` into `dir`, keeping intact ones and resuming `.partial` ones, then records them
 * all in `dir/manifest.json`. A final file only ever appears complete and verified: bytes land in
 * `{file}.partial`, which is size-checked, hashed against what the hub publishes, synced and renamed.
 * A file already in place is trusted when its size and mtime match the manifest (rehashed if only the mtime
 * moved); without a manifest entry it is rehashed against the hub's hash once. A folder whose files all match
 * the manifest costs no request.
 */
export async function downloadModel(spec: ModelSpec, options: DownloadOptions): Promise<DownloadResult> {
  // One process at a time per folder; the next finds the files in place, checks them against the manifest and
  // fetches nothing.
  return withFileLock(`${options.dir}.lock`, () => downloadUnlocked(spec, options), {
    ...options.lock,
    signal: options.signal,
    onWait: (holder) =>
      options.onProgress?.({
        type: "warning",
        message: `Waiting for ${holder}, which is downloading this model into the same folder.`,
      }),
  });
}

async function downloadUnlocked(spec: ModelSpec, options: DownloadOptions): Promise<DownloadResult> {
  const previous = await readManifest(options.dir, spec).catch((error: unknown) => {
    // An unreadable manifest is rebuilt: every file is checked against the hub again.
    if (error instanceof ManifestError) return undefined;
    throw error;
  });
  const dispatcher = options.dispatcher ?? defaultDispatcher();
  const shared: Omit<Context, "signal"> = {
    spec,
    dir: options.dir,
    endpoint: options.endpoint ?? DEFAULT_ENDPOINT,
    token: options.token,
    dispatcher: dispatcher.compose(interceptors.redirect({ maxRedirections: 5 })),
    directDispatcher: dispatcher,
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 500,
    headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 60_000,
    progress: new DownloadProgressTracker(spec.files, options.onProgress, options.progressIntervalMs ?? 100),
    rehashExisting: options.rehashExisting ?? false,
    previous: new Map(previous?.files.map((entry) => [entry.path, entry])),
    hub: new HubMetadata(),
  };
  // One failure stops the other transfers (the pool aborts their signal); their partials stay for the next run.
  const saved = await mapPool(
    spec.files,
    options.concurrency ?? 4,
    (file, signal) => fetchWithRetries({ ...shared, signal }, file),
    options.signal,
  );
  const inSpec = new Set(spec.files.map((file) => file.path));
  const manifest: Manifest = {
    version: 1,
    repo: spec.repo,
    revision: spec.revision,
    commit: shared.hub.commit ?? previous?.commit ?? null,
    // Other dtypes share the revision folder: their entries stay.
    files: [
      ...saved.map((s) => s.entry),
      ...(previous?.files ?? []).filter((entry) => !inSpec.has(entry.path)),
    ],
  };
  if (JSON.stringify(manifest) !== JSON.stringify(previous)) await writeManifest(options.dir, manifest);
  shared.progress.done();
  const pick = (outcome: Saved["outcome"]) =>
    saved.filter((s) => s.outcome === outcome).map((s) => s.entry.path);
  return {
    downloaded: pick("downloaded"),
    skipped: pick("skipped"),
    unverified: saved.filter((s) => s.entry.hash === null).map((s) => s.entry.path),
    manifest,
  };
}

/** What the hub publishes, fetched once and only when a file needs it. */
class HubMetadata {
  commit: string | undefined;
  private tree: Promise<Map<string, PublishedFile> | undefined> | undefined;

  async lookup(ctx: Context, file: ModelFile, state: FileState): Promise<PublishedFile> {
    if (!this.tree) {
      const tree: Promise<Map<string, PublishedFile> | undefined> = fetchTree(ctx).catch((error: unknown) => {
        if (this.tree === tree) this.tree = undefined; // a dropped connection: the next attempt asks again
        throw error;
      });
      this.tree = tree;
    }
    const listed = (await this.tree)?.get(file.path);
    state.reached = true;
    const published = listed ?? (await headFile(ctx, file));
    this.noteCommit(published.commit);
    return published;
  }

  noteCommit(commit: string | undefined): void {
    this.commit ??= commit;
  }
}

/** The tree listing as path -> published file; undefined where the endpoint has no such API (a plain proxy). */
async function fetchTree(ctx: Context): Promise<Map<string, PublishedFile> | undefined> {
  const files = new Map<string, PublishedFile>();
  for (let url: string | undefined = treeUrl(ctx.spec, ctx.endpoint); url;) {
    const { statusCode, headers, body } = await send(ctx, url, "GET");
    if (statusCode !== 200) {
      await body.dump();
      return undefined;
    }
    for (const [file, published] of parseTreePage(await body.json().catch(() => undefined))) {
      files.set(file, published);
    }
    url = nextPage(header(headers, "link"), url);
  }
  return files;
}

/** One file's hash headers, read from the resolve URL's own response (not the CDN's, after the redirect). */
async function headFile(ctx: Context, file: ModelFile): Promise<PublishedFile> {
  const url = fileUrl(ctx.spec, file.path, ctx.endpoint);
  const { statusCode, headers, body } = await send(ctx, url, "HEAD", { redirect: false });
  await body.dump();
  if (statusCode >= 400) throw statusError(ctx, file.path, statusCode, url);
  return publishedFromHeaders(statusCode, headers);
}

async function fetchWithRetries(ctx: Context, file: ModelFile): Promise<Saved> {
  // Unreachable on the first try means offline: fail fast. Once the host has answered, it is a blip: retry.
  const state: FileState = { reached: false, hashRetried: false };
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchOnce(ctx, file, state);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      // Wrong bytes get one more try from scratch (the partial is gone): a bad proxy or CDN node, or a bit flip.
      const retryHash =
        error instanceof ModelDownloadError && error.code === "hash-mismatch" && !state.hashRetried;
      if (retryHash) {
        state.hashRetried = true;
      } else if (!isRetryable(error, state.reached) || attempt > ctx.retries) {
        const final = finalError(ctx, file.path, error, attempt);
        throw state.corruption === undefined
          ? final
          : unrepairedError(file.path, ctx.dir, state.corruption, final);
      }
      ctx.progress.retry(file.path, attempt + 1, errorMessage(error));
      await sleep(backoffMs(ctx.retryDelayMs, attempt), undefined, { signal: ctx.signal });
    }
  }
}

async function fetchOnce(ctx: Context, file: ModelFile, state: FileState): Promise<Saved> {
  const final = localFilePath(ctx.dir, file.path);
  const partial = `${final}.partial`;

  const kept = await keepExisting(ctx, file, final, state);
  if (kept) {
    ctx.progress.skip(file.path, kept.size);
    return { outcome: "skipped", entry: kept };
  }
  const published = await ctx.hub.lookup(ctx, file, state);
  await mkdir(path.dirname(final), { recursive: true });

  let received: { bytes: number; digest: Digest };
  try {
    // Opened before the request so the body can be taken the moment headers arrive (see saveBody).
    received = await writeSynced(partial, "a", (handle) =>
      receive(ctx, file, published, { handle, path: partial }, state),
    );
  } catch (error) {
    // An empty partial (say, after a 404) is only clutter.
    const discard =
      (error instanceof InterruptedError && error.discard) ||
      (error instanceof ModelDownloadError && error.code === "size-mismatch") ||
      (await statIfExists(partial))?.size === 0;
    if (discard) await removeIfExists(partial);
    throw error;
  }
  const expected = published.hash;
  // Without the size up front the git blob id could not be computed while streaming (a small file: reread).
  const digest =
    expected?.kind === "git-blob-sha1" && received.digest.gitBlobSha1 === undefined
      ? await hashFile(partial, { gitBlob: true })
      : received.digest;
  if (expected && digestOfKind(digest, expected.kind) !== expected.value) {
    await removeIfExists(partial);
    throw hashMismatch(file.path, expected.kind, expected.value, digestOfKind(digest, expected.kind));
  }
  await renameDurably(partial, final);
  ctx.progress.fileDone(file.path, received.bytes);
  return { outcome: "downloaded", entry: await record(ctx, file, final, digest, published) };
}

/** The manifest entry of the file already at `final` if it can stay; otherwise it is deleted. */
async function keepExisting(
  ctx: Context,
  file: ModelFile,
  final: string,
  state: FileState,
): Promise<ManifestEntry | undefined> {
  const stats = await statIfExists(final);
  if (!stats) return undefined;
  const recorded = ctx.previous.get(file.path);
  // `pull` asks the hub again about a file it published no hash for last time.
  const entry = ctx.rehashExisting && recorded?.hash === null ? undefined : recorded;
  if (entry) {
    const check = await checkEntry(final, entry, { rehash: ctx.rehashExisting });
    if (check.ok) return { ...entry, mtimeMs: check.mtimeMs };
    state.corruption = check.reason;
  } else {
    // Not in the manifest (a cache from an older version, or copied in): checked against the hub once.
    const published = await ctx.hub.lookup(ctx, file, state);
    const size = file.size ?? published.size;
    const expected = published.hash;
    if (size !== undefined && stats.size !== size) {
      state.corruption = `size is ${stats.size} bytes, the hub publishes ${size}`;
    } else {
      const digest = await hashFile(final, { gitBlob: expected?.kind === "git-blob-sha1" });
      const actual = expected && digestOfKind(digest, expected.kind);
      if (!expected || actual === expected.value) return record(ctx, file, final, digest, published);
      state.corruption = `${expected.kind} is ${actual}, the hub publishes ${expected.value}`;
    }
  }
  ctx.progress.warn(file.path, `corrupt (${state.corruption}); downloading it again`);
  await removeIfExists(final);
  return undefined;
}

async function record(
  ctx: Context,
  file: ModelFile,
  final: string,
  digest: Digest,
  published: PublishedFile,
): Promise<ManifestEntry> {
  if (!published.hash) {
    ctx.progress.warn(file.path, "the hub publishes no hash for this file; only its size was checked");
  }
  const { size, mtimeMs } = await stat(final);
  return {
    path: file.path,
    size,
    mtimeMs,
    sha256: digest.sha256,
    hash: published.hash?.value ?? null,
    hashKind: published.hash?.kind ?? null,
    source: published.hash ? published.source : "none",
  };
}

/** Appends the rest of `file` to the open partial; returns the complete size and the whole file's digest. */
async function receive(
  ctx: Context,
  file: ModelFile,
  published: PublishedFile,
  partial: { handle: FileHandle; path: string },
  state: FileState,
): Promise<{ bytes: number; digest: Digest }> {
  const { handle } = partial;
  const known = file.size ?? published.size;
  const gitBlob = published.hash?.kind === "git-blob-sha1";
  let offset = (await handle.stat()).size;
  if (known !== undefined && offset > known) {
    await handle.truncate(0);
    offset = 0;
  }
  const url = fileUrl(ctx.spec, file.path, ctx.endpoint);
  const { statusCode, headers, body } = await send(ctx, url, "GET", {
    range: offset > 0 ? `bytes=${offset}-` : undefined,
  });
  state.reached = true;
  // Files served straight from git carry it; the CDN's responses for LFS files do not.
  ctx.hub.noteCommit(header(headers, "x-repo-commit"));

  if (statusCode === 416 && offset > 0) {
    await body.dump();
    // The partial may already hold the whole file (a run stopped between the last byte and the rename).
    const total = parseContentRange(header(headers, "content-range"))?.total;
    if (total === offset && (known === undefined || known === offset)) {
      return { bytes: offset, digest: await hashFile(partial.path, { gitBlob }) };
    }
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
  if (known !== undefined && total !== undefined && total !== known) {
    await body.dump();
    throw sizeMismatch(file.path, known, total);
  }
  const expected = known ?? total;

  // The digest covers the whole file: bytes kept from an earlier attempt are hashed first.
  const hasher = new ContentHasher(gitBlob ? expected : undefined);
  const firstStep =
    start > 0 ? hashPrefix(hasher, partial.path, start) : offset > 0 ? handle.truncate(0) : Promise.resolve();
  ctx.progress.start(file.path, start, expected);
  let bytes = start;
  await saveBody(body, handle, firstStep, (chunk) => {
    hasher.update(chunk);
    bytes += chunk.length;
    ctx.progress.update(file.path, bytes);
  });
  if (expected !== undefined && bytes < expected) {
    throw new InterruptedError(`connection closed after ${bytes} of ${expected} bytes of ${file.path}`);
  }
  if (expected !== undefined && bytes !== expected) throw sizeMismatch(file.path, expected, bytes);
  return { bytes, digest: hasher.digest() };
}

// Bytes waiting for the disk before the socket is paused.
const MAX_QUEUED = 4 * 1024 * 1024;

/**
 * Writes every chunk the moment it arrives. A socket error destroys the stream together with the chunks still
 * buffered in it, so the listener is attached before any await, and a resume starts from every received byte.
 * Writes wait for `firstStep`: emptying the partial on a restart (the handle appends, so writes then start at
 * byte 0), or hashing the bytes it already holds on a resume. `onWritten` sees the chunks in order.
 */
async function saveBody(
  body: Readable,
  handle: FileHandle,
  firstStep: Promise<void>,
  onWritten: (chunk: Buffer) => void,
): Promise<void> {
  let queued = 0;
  let writeError: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    writeError ??= { error };
    body.destroy();
  };
  let writes = firstStep.catch(fail);
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
      onWritten(chunk);
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

function send(
  ctx: Context,
  url: string,
  method: "GET" | "HEAD",
  { range, redirect = true }: { range?: string | undefined; redirect?: boolean } = {},
): Promise<Dispatcher.ResponseData> {
  // identity: a compressed body would make Content-Length describe the wrong bytes.
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (range) headers.range = range;
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  return request(url, {
    method,
    headers,
    dispatcher: redirect ? ctx.dispatcher : ctx.directDispatcher,
    signal: ctx.signal,
    headersTimeout: ctx.headersTimeoutMs,
    bodyTimeout: ctx.bodyTimeoutMs,
  });
}
