/**
 * Serializes tasks per key: a task starts once every earlier task of its key has settled, whether it resolved or
 * threw. Keys with nothing queued hold no memory.
 */
export function createKeyedLock() {
  const tails = new Map<string, Promise<void>>();
  return async function exclusive<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
