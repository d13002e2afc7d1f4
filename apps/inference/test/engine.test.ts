import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Engine, EngineError } from "../src/engine/engine";
import { tinyBundle } from "./support/tiny";

let engine: Engine;

beforeAll(async () => {
  const bundle = await tinyBundle({ variant: "turbo", stopAfter: null });
  engine = await Engine.start({ modelDir: bundle.dir, dtype: "fp32", device: "cpu", threads: 1, workers: 1 });
});

afterAll(async () => {
  await engine?.close();
});

describe("Engine (worker threads)", () => {
  it("reports the model it loaded", () => {
    expect(engine.info.variant).toBe("turbo");
    expect(engine.info.provider).toBe("cpu");
    expect(engine.info.kv).toMatchObject({ type: "float32", heads: 4, headDim: 16 });
  });

  it("synthesizes in a worker, streaming token progress, and returns the seed it used", async () => {
    const seen: number[] = [];
    const result = await engine.synthesize(
      { text: "Hello there.", maxTokens: 6 },
      { onToken: (n) => seen.push(n) },
    );
    expect(result.tokens).toHaveLength(6);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.seed).toBeGreaterThanOrEqual(0);
    expect(result.waveform).toBeInstanceOf(Float32Array);
  });

  it("greedy decoding gives identical tokens across runs and across a worker restart", async () => {
    const request = { text: "Same every time.", greedy: true, maxTokens: 12 };
    const first = await engine.synthesize(request);
    const second = await engine.synthesize(request);
    expect(second.tokens).toEqual(first.tokens);
    const started = engine.workersStarted;
    engine.recycleWorker(0);
    await expect.poll(() => engine.workersStarted, { timeout: 20_000 }).toBe(started + 1);
    const afterRestart = await engine.synthesize(request);
    expect(afterRestart.tokens).toEqual(first.tokens);
  });

  it("fails the job of a crashed worker with a clear error and keeps serving with a replacement", async () => {
    const started = engine.workersStarted;
    const running = engine.synthesize(
      { text: "This worker will die.", maxTokens: 4000 },
      {
        onToken: (n) => {
          if (n === 3) engine.recycleWorker(0);
        },
      },
    );
    await expect(running).rejects.toMatchObject({ code: "worker-crashed" });
    await expect(running).rejects.toThrow(/worker crashed .* it has been replaced/);
    await expect.poll(() => engine.workersStarted, { timeout: 20_000 }).toBe(started + 1);
    const next = await engine.synthesize({ text: "Still here.", maxTokens: 3, greedy: true });
    expect(next.tokens).toHaveLength(3);
  });

  it("stops generating within a decode step of cancellation", async () => {
    const controller = new AbortController();
    let last = 0;
    const running = engine.synthesize(
      { text: "Cancel me.", maxTokens: 4000 },
      {
        signal: controller.signal,
        onToken: (n) => {
          last = n;
          if (n === 5) controller.abort();
        },
      },
    );
    await expect(running).rejects.toBeInstanceOf(EngineError);
    await expect(running).rejects.toMatchObject({ code: "cancelled" });
    expect(last).toBeLessThanOrEqual(7);
    const next = await engine.synthesize({ text: "Next one.", maxTokens: 2 });
    expect(next.tokens).toHaveLength(2);
  });

  it("refuses to start on a bundle that cannot load, with the loader's reason", async () => {
    await expect(
      Engine.start({ modelDir: "/nonexistent/model", dtype: "q4", device: "cpu", threads: 1, workers: 1 }),
    ).rejects.toThrow(/Model files missing in \/nonexistent\/model/);
  });
});
