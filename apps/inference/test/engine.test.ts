import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { GenerationSettings } from "@tts/api";

import { Engine, EngineError, type SynthesisCallbacks } from "../src/engine/engine";
import { resolveSettings } from "../src/engine/resolve-settings";
import { tinyBundle } from "./support/tiny";

let engine: Engine;

/** Resolves settings the way the job service does, then runs them on the engine. */
const synthesize = (text: string, settings: GenerationSettings, callbacks?: SynthesisCallbacks) =>
  engine.synthesize({ text, options: resolveSettings("turbo", settings).generation }, callbacks);

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

  it("synthesizes in a worker, streaming token progress and audio chunks while it generates", async () => {
    const seen: number[] = [];
    const audio: { afterTokens: number; samples: number }[] = [];
    const result = await synthesize(
      "Hello there.",
      { maxTokens: 60 },
      {
        onToken: (n) => seen.push(n),
        onAudio: (samples) => audio.push({ afterTokens: seen.length, samples: samples.length }),
      },
    );
    expect(result.tokens).toHaveLength(60);
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    // The first chunk comes long before the last token; together the chunks are the whole waveform.
    expect(audio[0]!.afterTokens).toBeLessThan(30);
    const speechCodes = result.tokens.filter((token) => token < 6561).length;
    expect(audio.reduce((n, chunk) => n + chunk.samples, 0)).toBe(960 * (speechCodes + 3));
    expect(result.waveform).toHaveLength(0);
  });

  it("picks a random seed when none is given, and replaying that seed replays the tokens", async () => {
    const text = "Sampled, not greedy.";
    const first = resolveSettings("turbo", { maxTokens: 20 });
    const second = resolveSettings("turbo", { maxTokens: 20 });
    expect(first.generation.seed).not.toBe(second.generation.seed);
    const sampled = await engine.synthesize({ text, options: first.generation });
    const replayed = await synthesize(text, { maxTokens: 20, seed: first.generation.seed });
    expect(replayed.tokens).toEqual(sampled.tokens);
    // The seed is what makes them equal: another seed samples other tokens.
    const other = await engine.synthesize({ text, options: second.generation });
    expect(other.tokens).not.toEqual(sampled.tokens);
  });

  it("greedy decoding gives identical tokens across runs and across a worker restart", async () => {
    const settings = { greedy: true, maxTokens: 12 };
    const first = await synthesize("Same every time.", settings);
    const second = await synthesize("Same every time.", settings);
    expect(second.tokens).toEqual(first.tokens);
    const started = engine.workersStarted;
    engine.simulateWorkerExit(0);
    await expect.poll(() => engine.workersStarted, { timeout: 20_000 }).toBe(started + 1);
    const afterRestart = await synthesize("Same every time.", settings);
    expect(afterRestart.tokens).toEqual(first.tokens);
  });

  it("fails the job of a worker that dies mid-job with a clear error and keeps serving with a replacement", async () => {
    const started = engine.workersStarted;
    const running = synthesize(
      "This worker will die.",
      { maxTokens: 4000 },
      {
        onToken: (n) => {
          if (n === 3) engine.simulateWorkerExit(0);
        },
      },
    );
    // Queued behind the dying job: it must run on the replacement, not be lost with the worker.
    const queued = synthesize("Waiting my turn.", { maxTokens: 3, greedy: true });
    await expect(running).rejects.toBeInstanceOf(EngineError);
    await expect(running).rejects.toMatchObject({ code: "worker-died" });
    await expect(running).rejects.toThrow(/inference worker stopped unexpectedly \(exit code 1\)/);
    expect((await queued).tokens).toHaveLength(3);
    expect(engine.workersStarted).toBe(started + 1);
    expect(engine.health()).toEqual({ workers: 1, wanted: 1, lastError: null });
    const next = await synthesize("Still here.", { maxTokens: 3, greedy: true });
    expect(next.tokens).toHaveLength(3);
  });

  // The worker checks the flag before each decode step (model.test.ts pins that boundary); here the tokens it
  // posted before seeing the flag are still in flight, so only "long before maxTokens" is observable.
  it("stops generating soon after cancellation and takes the next job", async () => {
    const controller = new AbortController();
    let last = 0;
    const running = synthesize(
      "Cancel me.",
      { maxTokens: 4000 },
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
    expect(last).toBeLessThan(100);
    const next = await synthesize("Next one.", { maxTokens: 2 });
    expect(next.tokens).toHaveLength(2);
  });

  it("refuses to start on a bundle that cannot load, with the loader's reason", async () => {
    await expect(
      Engine.start({ modelDir: "/nonexistent/model", dtype: "q4", device: "cpu", threads: 1, workers: 1 }),
    ).rejects.toThrow(/Model files missing in \/nonexistent\/model/);
  });
});
