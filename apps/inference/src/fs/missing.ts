import type { Stats } from "node:fs";
import { stat, unlink } from "node:fs/promises";

// Only ENOENT counts: any other failure (permissions, I/O) says nothing about whether the file is there.
function isMissing(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === "ENOENT";
}

/** Settles to undefined where `operation` fails because its file is not there; other failures still reject. */
export async function ifExists<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

export function statIfExists(file: string): Promise<Stats | undefined> {
  return ifExists(stat(file));
}

/** True if this call removed `file`; false if it was already gone (a concurrent delete got there first). */
export async function removeIfExists(file: string): Promise<boolean> {
  return (await ifExists(unlink(file).then(() => true))) ?? false;
}
