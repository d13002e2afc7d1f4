import type { Worker } from "node:worker_threads";

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { Engine, EngineError, startEngineWorker, type EngineConfig } from "../src/engine/engine";
import { resolveSettings } from "../src/engine/resolve-settings";
import { tinyBundle } from "./support/tiny";

let config: EngineConfig;
const engines: Engine[] = [];

const options = (maxTokens: number) => resolveSettings("turbo", { greedy: true, maxTokens }).generation;

/** Starts an engine that `afterEach` closes. */
async function start(overrides: Partial<EngineConfig>): Promise<Engine> {
  const engine = await Engine.start({ ...config, ...overrides });
  engines.push(engine);
  return engine;
}

/** A spawn hook that fails while `failing` is set, and counts the tries. */
function flakySpawn() {
  const hook = {
    failing: false,
    tries: [] as number[],
    spawn: (cfg: EngineConfig) => {
      hook.tries.push(performance.now());
      return hook.failing ? Promise.reject(new Error("no thread for you")) : startEngineWorker(cfg);
    },
  };
  return hook;
}

beforeAll(async () => {
  const bundle = await tinyBundle({ variant: "turbo", stopAfter: null });
  config = { modelDir: bundle.dir, dtype: "fp32", device: "cpu", threads: 1, workers: 1 };
});

afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

describe("Engine worker faults", () => {
  it("loses no queued work when one of two workers dies mid-job, and gets back to two", async () => {
    const engine = await start({ workers: 2 });
    const doomed = engine.synthesize(
      { text: "I will not finish.", options: options(4000) },
      { onToken: (n) => n === 3 && engine.simulateWorkerExit(0) },
    );
    const others = Array.from({ length: 4 }, (_, i) =>
      engine.synthesize({ text: `Job ${i}.`, options: options(3) }),
    );
    await expect(doomed).rejects.toMatchObject({ code: "worker-died" });
    for (const result of await Promise.all(others)) expect(result.tokens).toHaveLength(3);
    await expect.poll(() => engine.stats().workers, { timeout: 20_000 }).toBe(2);
    expect(engine.stats()).toMatchObject({ workers: 2, queued: 0, workersStarted: 3 });
  });

  it("retries a worker that cannot be replaced, reports it, holds jobs meanwhile and recovers", async () => {
    const hook = flakySpawn();
    const engine = await start({ spawnWorker: hook.spawn, respawnDelayMs: { first: 50, max: 200 } });
    hook.failing = true;
    engine.simulateWorkerExit(0);
    // A worker on its way out no longer counts, even before its thread has gone.
    expect(engine.health()).toMatchObject({ workers: 0, wanted: 1 });
    await expect.poll(() => hook.tries.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(6);
    expect(engine.health()).toEqual({ workers: 0, wanted: 1, lastError: "no thread for you" });
    expect(engine.stats().workers).toBe(0);
    // Backoff: 50, 100, 200 ms, then 200 ms at most (timers only run late, never early).
    const gaps = hook.tries.slice(1).map((at, i) => at - hook.tries[i]!);
    expect(gaps[1]).toBeGreaterThanOrEqual(45);
    expect(gaps[2]).toBeGreaterThanOrEqual(95);
    expect(gaps[3]).toBeGreaterThanOrEqual(195);
    expect(gaps[4]).toBeLessThan(400);

    // With no worker, a job waits in the queue; its signal (the caller's timeout) still ends it.
    const timedOut = new AbortController();
    const abandoned = engine.synthesize(
      { text: "Never mind.", options: options(3) },
      { signal: timedOut.signal },
    );
    const waiting = engine.synthesize({ text: "Waiting for a worker.", options: options(3) });
    expect(engine.stats().queued).toBe(2);
    timedOut.abort();
    await expect(abandoned).rejects.toMatchObject({ code: "cancelled" });

    hook.failing = false;
    expect((await waiting).tokens).toHaveLength(3);
    expect(engine.health()).toEqual({ workers: 1, wanted: 1, lastError: null });
    const next = await engine.synthesize({ text: "Back in business.", options: options(2) });
    expect(next.tokens).toHaveLength(2);
  });

  it("stops retrying once closed, failing what was queued", async () => {
    const hook = flakySpawn();
    const engine = await start({ spawnWorker: hook.spawn, respawnDelayMs: { first: 20, max: 20 } });
    hook.failing = true;
    engine.simulateWorkerExit(0);
    await expect.poll(() => hook.tries.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const queued = engine.synthesize({ text: "Too late.", options: options(2) });
    await engine.close();
    await expect(queued).rejects.toMatchObject({ code: "closed" });
    const tries = hook.tries.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(hook.tries.length).toBe(tries);
  });

  it("refuses to start when a worker cannot load, leaving no thread behind", async () => {
    const started: Worker[] = [];
    const spawnWorker = async (cfg: EngineConfig) => {
      if (started.length === 1) throw new EngineError("second worker refused", "load-failed");
      const worker = await startEngineWorker(cfg);
      started.push(worker.worker);
      return worker;
    };
    await expect(Engine.start({ ...config, workers: 2, spawnWorker })).rejects.toThrow(
      "second worker refused",
    );
    // A worker's threadId becomes -1 once it has exited.
    expect(started.map((worker) => worker.threadId)).toEqual([-1]);
  });
});

describe("Engine rows per worker (continuous batching)", () => {
  it("runs up to rowsPerWorker syntheses on one worker at once, queues the rest, and each gets its own result", async () => {
    const alone = await start({ workers: 1 });
    const texts = ["One.", "Two, a little longer.", "Three.", "Four!"];
    const expected = [];
    for (const text of texts) expected.push((await alone.synthesize({ text, options: options(20) })).tokens);

    const engine = await start({ workers: 1, rowsPerWorker: 2 });
    const started: number[] = [];
    const results = texts.map((text, i) =>
      engine.synthesize({ text, options: options(20) }, { onStart: () => started.push(i) }),
    );
    // Two start at once on the one worker; the others wait for a row.
    expect(started).toEqual([0, 1]);
    expect(engine.stats()).toMatchObject({ busy: 1, queued: 2 });
    const closedOn = engine
      .synthesize({ text: "Still running at close.", options: options(4000) })
      .catch((error: unknown) => error);
    expect((await Promise.all(results)).map((r) => r.tokens)).toEqual(expected);
    expect(started).toEqual([0, 1, 2, 3]);
    await engine.close();
    expect(await closedOn).toBeInstanceOf(EngineError);
  });

  it("fails every synthesis of a worker that dies, and the replacement takes new ones", async () => {
    const engine = await start({ workers: 1, rowsPerWorker: 2 });
    const a = engine.synthesize(
      { text: "First of two.", options: options(4000) },
      { onToken: (n) => n === 3 && engine.simulateWorkerExit(0) },
    );
    const b = engine.synthesize({ text: "Second of two.", options: options(4000) });
    await expect(a).rejects.toMatchObject({ code: "worker-died" });
    await expect(b).rejects.toMatchObject({ code: "worker-died" });
    const after = await engine.synthesize({ text: "After.", options: options(3) });
    expect(after.tokens).toHaveLength(3);
  });
});
