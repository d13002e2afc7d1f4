import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, statfs, type FileHandle } from "node:fs/promises";
import path from "node:path";

import { replaceFiles, syncDir, TEMP_MARKER } from "../fs/atomic-write";
import { createKeyedLock } from "../fs/key-lock";
import { ifExists, removeIfExists, statIfExists } from "../fs/missing";
import { mapPool } from "../fs/pool";
import { assertValidId, isValidId } from "./ids";
import {
  checkRange,
  checkTtl,
  decodeObject,
  encodeObject,
  isExpired,
  sweepEvery,
  sweepInTurn,
} from "./object-codec";
import {
  StorageWriteError,
  type AudioMeta,
  type Collection,
  type JobRecord,
  type PutOptions,
  type Storage,
  type StoredObject,
  type VoiceMeta,
} from "./storage";

export interface FsStorageOptions {
  dataDir: string;
  /** Lifetime of audio results unless `put` says otherwise. */
  audioTtlMs?: number;
  sweepIntervalMs?: number;
  /** Clock for createdAt/expiresAt (tests inject one). */
  now?: () => number;
  /** Failures of the background sweep (the start-up sweep rejects createFsStorage instead). */
  onSweepError?: (error: unknown) => void;
  /** Writes are refused (StorageWriteError "full") while less than this is free under dataDir (default 0). */
  minFreeBytes?: number;
}

/**
 * Layout: `{dataDir}/{voices|audio|jobs}/{id}.bin` (data) beside `{id}.json` (the StoredObject). Writes go to
 * `*.tmp-{random}` files, are fsynced, then renamed data first and metadata last: the .json is the commit point,
 * so an object exists iff its .json exists, and a crash leaves at worst garbage that the sweep removes.
 */
export async function createFsStorage({
  dataDir,
  audioTtlMs = 3_600_000,
  sweepIntervalMs = 60_000,
  now = Date.now,
  onSweepError = () => {},
  minFreeBytes = 0,
}: FsStorageOptions): Promise<Storage> {
  checkTtl(audioTtlMs);
  if (!(sweepIntervalMs > 0))
    throw new RangeError(`sweepIntervalMs must be positive, got ${sweepIntervalMs}`);
  const roomToWrite = spaceGuard(dataDir, minFreeBytes);
  const voices = await createFsCollection<VoiceMeta>(path.join(dataDir, "voices"), null, now, roomToWrite);
  const audio = await createFsCollection<AudioMeta>(
    path.join(dataDir, "audio"),
    audioTtlMs,
    now,
    roomToWrite,
  );
  // Job records live as long as the audio of their jobs would; a running job's record is renewed as it runs.
  const jobs = await createFsCollection<JobRecord>(path.join(dataDir, "jobs"), audioTtlMs, now, roomToWrite);
  const sweepAll = sweepInTurn(voices, audio, jobs);
  // Audio that expired while the node was down goes now; everything unexpired survives the restart.
  await sweepAll();
  const sweeping = sweepEvery(sweepIntervalMs, sweepAll, onSweepError);
  return { voices, audio, jobs, close: sweeping.stop };
}

/** How long a free-space reading is trusted: statfs on every write would cost more than many writes. */
const SPACE_CHECK_INTERVAL_MS = 1000;

/** Resolves when there is room to write, else rejects with a StorageWriteError ("full"). */
function spaceGuard(dir: string, minFreeBytes: number): () => Promise<void> {
  let checkedAt = -Infinity;
  let free = Infinity;
  return async () => {
    if (minFreeBytes <= 0) return;
    if (performance.now() - checkedAt > SPACE_CHECK_INTERVAL_MS) {
      const stats = await statfs(dir);
      free = stats.bavail * stats.bsize;
      checkedAt = performance.now();
    }
    if (free < minFreeBytes)
      throw new StorageWriteError(
        "full",
        `${free} bytes are free under the data directory; writes stop below ${minFreeBytes}.`,
      );
  };
}

/** File-system failures a write can meet, as the errors callers act on; anything else passes unchanged. */
function asWriteError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOSPC" || code === "EDQUOT")
    return new StorageWriteError("full", "The data directory's disk is full.", { cause: error });
  if (code === "EACCES" || code === "EPERM" || code === "EROFS")
    return new StorageWriteError("not-writable", "The data directory is not writable.", { cause: error });
  return error;
}

/** Runs a write, translating its file-system failures (see asWriteError). */
async function writing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asWriteError(error);
  }
}

/** Leftovers of interrupted writes younger than this may belong to a put still in flight (maybe elsewhere). */
const GARBAGE_AGE_MS = 60_000;
/** Bounds open files when listing or sweeping thousands of objects. */
const IO_CONCURRENCY = 16;

async function createFsCollection<M>(
  dir: string,
  defaultTtlMs: number | null,
  now: () => number,
  roomToWrite: () => Promise<void>,
): Promise<Collection<M>> {
  await mkdir(dir, { recursive: true });
  // put/delete/updateMeta/sweep of one id run one at a time, so the last call wins cleanly.
  const exclusive = createKeyedLock();
  const binPath = (id: string) => path.join(dir, `${id}.bin`);
  const jsonPath = (id: string) => path.join(dir, `${id}.json`);

  async function readObject(id: string): Promise<StoredObject<M> | null> {
    const text = await ifExists(readFile(jsonPath(id), "utf8"));
    return text === undefined ? null : decodeObject<M>(id, text);
  }

  async function readVisible(id: string): Promise<StoredObject<M> | null> {
    const object = await readObject(id);
    return object && !isExpired(object, now()) ? object : null;
  }

  /** Opens the data of a visible object; the handle pins one version even if a put replaces it meanwhile. */
  async function openVisible(id: string): Promise<FileHandle | null> {
    if (!(await readVisible(id))) return null;
    return (await ifExists(open(binPath(id), "r"))) ?? null; // missing: deleted since the metadata was read
  }

  /** Metadata first: once the commit point is gone the object is gone, whatever happens to the data. */
  async function removeObject(id: string): Promise<boolean> {
    const existed = await removeIfExists(jsonPath(id));
    await removeIfExists(binPath(id));
    return existed;
  }

  async function sweepEntry(name: string, names: Set<string>, at: number): Promise<boolean> {
    const file = path.join(dir, name);
    // File ages are compared with the file system's own clock, not the injected one.
    const garbageCutoff = Date.now() - GARBAGE_AGE_MS;
    if (name.includes(TEMP_MARKER)) {
      if (await isOlderThan(file, garbageCutoff)) await removeIfExists(file);
      return false;
    }
    if (name.endsWith(".json")) {
      const id = name.slice(0, -".json".length);
      if (!isValidId(id)) return false;
      const object = await readObject(id);
      if (!object || !isExpired(object, at)) return false;
      return exclusive(id, async () => {
        const current = await readObject(id); // a put may have replaced it since
        return current !== null && isExpired(current, at) && (await removeObject(id));
      });
    }
    if (name.endsWith(".bin")) {
      const id = name.slice(0, -".bin".length);
      if (!isValidId(id) || names.has(`${id}.json`) || !(await isOlderThan(file, garbageCutoff)))
        return false;
      await exclusive(id, async () => {
        if (!(await statIfExists(jsonPath(id)))) await removeIfExists(file);
      });
    }
    return false;
  }

  return {
    async put(id, data, meta, options: PutOptions = {}) {
      assertValidId(id);
      const ttlMs = options.ttlMs === undefined ? defaultTtlMs : options.ttlMs;
      checkTtl(ttlMs);
      return exclusive(id, async () => {
        // Inside the lock: puts and deletes of one id still settle in call order.
        await roomToWrite();
        const createdAt = options.createdAt ?? now();
        const object: StoredObject<M> = {
          id,
          meta,
          size: data.byteLength,
          createdAt,
          expiresAt: ttlMs === null ? null : createdAt + ttlMs,
        };
        await writing(() =>
          replaceFiles([
            [binPath(id), data],
            [jsonPath(id), encodeObject(object)],
          ]),
        );
        return object;
      });
    },

    async createWriter(id) {
      assertValidId(id);
      // A temp name: an abandoned writer is garbage for the sweep, never a visible object.
      const tmp = `${binPath(id)}${TEMP_MARKER}${randomBytes(6).toString("hex")}`;
      await roomToWrite();
      const handle = await writing(() => open(tmp, "wx+"));
      let size = 0;
      let queue: Promise<void> = Promise.resolve();
      let closed = false;
      const enqueue = <T>(work: () => Promise<T>): Promise<T> => {
        const next = queue.then(work);
        queue = next.then(
          () => undefined,
          () => undefined,
        );
        return next;
      };
      const close = async () => {
        if (closed) return;
        closed = true;
        await handle.close();
      };
      return {
        get size() {
          return size;
        },
        append: (data) =>
          enqueue(async () => {
            await writing(() => writeAll(handle, data, size));
            size += data.byteLength;
          }),
        read: async (start, end) => {
          const bytes = new Uint8Array(Math.max(0, Math.min(end, size) - start));
          if (!closed) await readAll(handle, bytes, start);
          else {
            // Committed (or aborted): readers still following get the rest from the published file.
            const published = await open(binPath(id), "r");
            try {
              await readAll(published, bytes, start);
            } finally {
              await published.close();
            }
          }
          return bytes;
        },
        commit: (meta, patches = [], options = {}) =>
          enqueue(async () => {
            const ttlMs = options.ttlMs === undefined ? defaultTtlMs : options.ttlMs;
            checkTtl(ttlMs);
            await writing(async () => {
              for (const patch of patches) await writeAll(handle, patch.data, patch.offset);
              await handle.sync();
            });
            await close();
            return exclusive(id, async () => {
              const createdAt = now();
              const object: StoredObject<M> = {
                id,
                meta,
                size,
                createdAt,
                expiresAt: ttlMs === null ? null : createdAt + ttlMs,
              };
              await rename(tmp, binPath(id));
              // The data is in place but invisible until its metadata lands; if that fails, the sweep takes it.
              await writing(() => replaceFiles([[jsonPath(id), encodeObject(object)]]));
              return object;
            });
          }),
        abort: () =>
          enqueue(async () => {
            await close();
            await removeIfExists(tmp);
          }),
      };
    },

    async get(id) {
      assertValidId(id);
      return readVisible(id);
    },

    async read(id, range) {
      assertValidId(id);
      checkRange(range);
      const handle = await openVisible(id);
      if (!handle) return null;
      try {
        const { size } = await handle.stat();
        const start = range?.start ?? 0;
        const end = Math.min(range?.end ?? size - 1, size - 1);
        const bytes = new Uint8Array(Math.max(0, end - start + 1));
        return bytes.subarray(0, await readAll(handle, bytes, start));
      } finally {
        await handle.close();
      }
    },

    async stream(id, range) {
      assertValidId(id);
      checkRange(range);
      const handle = await openVisible(id);
      // The stream closes the handle when it ends, fails or is destroyed.
      return handle?.createReadStream({ start: range?.start, end: range?.end }) ?? null;
    },

    async updateMeta(id, update) {
      assertValidId(id);
      return exclusive(id, async () => {
        const current = await readVisible(id);
        if (!current) return null;
        const updated: StoredObject<M> = { ...current, meta: update(current.meta) };
        await writing(() => replaceFiles([[jsonPath(id), encodeObject(updated)]]));
        return updated;
      });
    },

    async delete(id) {
      assertValidId(id);
      return exclusive(id, async () => {
        const current = await readObject(id);
        const removed = await removeObject(id);
        if (removed) await syncDir(dir);
        return removed && current !== null && !isExpired(current, now());
      });
    },

    async list() {
      const ids = (await readdir(dir))
        .filter((name) => name.endsWith(".json"))
        .map((name) => name.slice(0, -".json".length))
        .filter(isValidId);
      const objects = await mapPool(ids, IO_CONCURRENCY, readObject);
      const at = now();
      return objects
        .filter((object): object is StoredObject<M> => object !== null && !isExpired(object, at))
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    },

    async sweep(at = now()) {
      const names = await readdir(dir);
      const nameSet = new Set(names);
      const expired = await mapPool(names, IO_CONCURRENCY, (name) => sweepEntry(name, nameSet, at));
      const count = expired.filter(Boolean).length;
      if (count > 0) await syncDir(dir);
      return count;
    },
  };
}

/** Reads into all of `bytes` from `position`; returns how many were read (fewer only at the end of the file). */
async function readAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let filled = 0;
  while (filled < bytes.length) {
    const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, position + filled);
    if (bytesRead === 0) break; // files are replaced, never truncated, so this is only defensive
    filled += bytesRead;
  }
  return filled;
}

async function writeAll(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.byteLength) {
    const { bytesWritten } = await handle.write(data, written, data.byteLength - written, position + written);
    written += bytesWritten;
  }
}

async function isOlderThan(file: string, cutoffMs: number): Promise<boolean> {
  const stats = await statIfExists(file);
  return stats !== undefined && stats.mtimeMs < cutoffMs;
}
