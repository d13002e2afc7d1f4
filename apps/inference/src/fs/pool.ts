/**
 * Maps `items` through `task` with at most `limit` calls in flight, keeping results in item order.
 * The first failure stops new calls and aborts the signal the running ones were given; the pool still waits for
 * them, so nothing keeps running once it settles. It rejects with the reason of `signal` if that aborted, else
 * with the first failure.
 */
export async function mapPool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, signal: AbortSignal) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const stop = new AbortController();
  const taskSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const results: R[] = [];
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !taskSignal.aborted) {
      const index = next++;
      try {
        results[index] = await task(items[index] as T, taskSignal);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (signal?.aborted) throw signal.reason;
  if (failure) throw failure.error;
  return results;
}
