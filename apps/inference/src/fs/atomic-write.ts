import { randomBytes } from "node:crypto";
import { open, rename, type FileHandle } from "node:fs/promises";
import path from "node:path";

import { removeIfExists } from "./missing";

/** Temp files are `{file}.tmp-{random}`: a sweep can recognise what an interrupted write left behind. */
export const TEMP_MARKER = ".tmp-";

/**
 * Replaces each file atomically, in order: writes and fsyncs every `{file}.tmp-{random}` (in parallel), then
 * renames them over their targets and syncs their directories. On failure no temp file is left behind.
 */
export async function replaceFiles(files: [file: string, data: Uint8Array | string][]): Promise<void> {
  const temps = files.map(([file, data]) => ({
    tmp: `${file}${TEMP_MARKER}${randomBytes(6).toString("hex")}`,
    file,
    data,
  }));
  try {
    const written = await Promise.allSettled(
      temps.map(({ tmp, data }) => writeSynced(tmp, "wx", (handle) => handle.writeFile(data))),
    );
    const failure = written.find((result) => result.status === "rejected");
    if (failure) throw failure.reason;
    for (const { tmp, file } of temps) await rename(tmp, file);
  } catch (error) {
    await Promise.all(temps.map(({ tmp }) => removeIfExists(tmp)));
    throw error;
  }
  for (const dir of new Set(files.map(([file]) => path.dirname(file)))) await syncDir(dir);
}

/**
 * Opens `file`, lets `write` fill it, and fsyncs it before closing, so a rename that follows never publishes
 * bytes still in the page cache. The handle is closed whether `write` succeeds or not.
 */
export async function writeSynced<T>(
  file: string,
  flags: "wx" | "a",
  write: (handle: FileHandle) => Promise<T>,
): Promise<T> {
  const handle = await open(file, flags);
  try {
    const result = await write(handle);
    await handle.sync();
    return result;
  } finally {
    await handle.close();
  }
}

/** Publishes a synced file under its final name; the directory sync makes the rename survive a power loss. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDir(path.dirname(to));
}

/** Makes renames and unlinks in `dir` survive a power loss, not just a process restart. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
