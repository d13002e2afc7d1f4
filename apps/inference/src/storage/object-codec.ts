// What every storage driver shares: the stored object's JSON form, argument checks, and the background sweep.
import type { ByteRange, StoredObject } from "./storage";

export function isExpired(object: StoredObject<unknown>, at: number): boolean {
  return object.expiresAt !== null && object.expiresAt <= at;
}

/** `extra`: fields a driver keeps beside the object (decodeObject ignores them). */
export function encodeObject(object: StoredObject<unknown>, extra: Record<string, unknown> = {}): string {
  const { id, size, createdAt, expiresAt, meta } = object;
  return JSON.stringify({ id, size, createdAt, expiresAt, meta, ...extra });
}

/** Corrupt or foreign metadata (truncated file, wrong shape, another id) reads as "no object". */
export function decodeObject<M>(id: string, text: string): StoredObject<M> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { id: storedId, size, createdAt, expiresAt, meta } = value as Record<string, unknown>;
  const valid =
    storedId === id &&
    Number.isSafeInteger(size) &&
    (size as number) >= 0 &&
    Number.isFinite(createdAt) &&
    (expiresAt === null || Number.isFinite(expiresAt)) &&
    typeof meta === "object" &&
    meta !== null;
  if (!valid) return null;
  return {
    id,
    meta: meta as M,
    size: size as number,
    createdAt: createdAt as number,
    expiresAt: expiresAt as number | null,
  };
}

export function checkTtl(ttlMs: number | null): void {
  if (ttlMs !== null && !(Number.isFinite(ttlMs) && ttlMs >= 0)) {
    throw new RangeError(`ttlMs must be a non-negative number or null, got ${ttlMs}`);
  }
}

export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end >= start)) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}

/** Sweeps each collection in turn, one at a time (a sweep lists, then deletes what expired). */
export function sweepInTurn(...collections: { sweep(): Promise<number> }[]): () => Promise<void> {
  return async () => {
    for (const collection of collections) await collection.sweep();
  };
}

/**
 * Runs `sweep` every `intervalMs` in the background, never two at once (slow storage must not pile sweeps up);
 * `stop` clears the timer and waits for a sweep in progress.
 */
export function sweepEvery(
  intervalMs: number,
  sweep: () => Promise<void>,
  onError: (error: unknown) => void,
): { stop: () => Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = sweep()
      .catch(onError)
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
