import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { ifExists, statIfExists } from "./missing";

export interface FileLockOptions {
  /** A lock not refreshed for this long belongs to a process that died: it is broken. */
  staleMs?: number;
  /** How often a waiting process looks again. */
  pollMs?: number;
  /** Told once when the lock is held by someone else, with what the holder wrote (process and host). */
  onWait?: (holder: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs `task` while holding an exclusive lock file, across processes and machines sharing the folder (an EFS or
 * NFS volume too: exclusive create is atomic there). The holder refreshes the file's mtime while it works, so a
 * lock left by a process that died is recognised by its age and broken. Breaking one moves it aside under a unique
 * name first, so two waiters never both believe they removed it.
 */
export async function withFileLock<T>(
  file: string,
  task: () => Promise<T>,
  { staleMs = 60_000, pollMs = 1_000, onWait, signal }: FileLockOptions = {},
): Promise<T> {
  await mkdir(path.dirname(file), { recursive: true });
  let told = false;
  while (!(await tryCreate(file))) {
    signal?.throwIfAborted();
    const info = await statIfExists(file);
    if (!info) continue; // released just now
    if (Date.now() - info.mtimeMs > staleMs) {
      const aside = `${file}.stale-${randomBytes(4).toString("hex")}`;
      if ((await ifExists(rename(file, aside))) !== undefined) await rm(aside, { force: true });
      continue;
    }
    if (!told) {
      told = true;
      onWait?.(await readFile(file, "utf8").catch(() => "another process"));
    }
    await sleep(pollMs, undefined, { signal });
  }
  const refresh = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, staleMs / 4);
  refresh.unref();
  try {
    return await task();
  } finally {
    clearInterval(refresh);
    await rm(file, { force: true });
  }
}

async function tryCreate(file: string): Promise<boolean> {
  try {
    const handle = await open(file, "wx");
    try {
      await handle.writeFile(`process ${process.pid} on ${hostname()} since ${new Date().toISOString()}`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}
