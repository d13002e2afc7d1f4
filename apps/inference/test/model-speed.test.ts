import { describe, expect, it } from "vitest";

import { ChatterboxModel, type GenerationOptions } from "../src/engine/model";
import { resolveSettings } from "../src/engine/resolve-settings";
import { tinyBundle } from "./support/tiny";

const load = (dir: string, extra: Partial<Parameters<typeof ChatterboxModel.load>[1]> = {}) =>
  ChatterboxModel.load(dir, { dtype: "fp32", device: "cpu", threads: 1, ...extra });

const options = (greedy: boolean, seed = 7): GenerationOptions => ({
  ...resolveSettings("turbo", { greedy, seed }).generation,
  maxTokens: 40,
});

describe("voice-prefix KV reuse (Turbo)", () => {
  it("gives the same tokens as a full prefill, computing each voice's prefix once", async () => {
    const bundle = await tinyBundle({ variant: "turbo", stopAfter: null });
    const reuse = await load(bundle.dir);
    const full = await load(bundle.dir, { voicePrefixCacheSize: 0 });
    const voice = await reuse.defaultVoice();
    const texts = ["The first sentence.", "A second, different one!", "The first sentence."];
    for (const text of texts) {
      for (const greedy of [true, false]) {
        const a = await reuse.synthesize(text, voice, options(greedy));
        const b = await full.synthesize(text, voice, options(greedy));
        expect(a.tokens).toEqual(b.tokens);
        expect(a.decoderTokens).toEqual(b.decoderTokens);
        expect(a.tokens.length).toBe(40);
      }
    }
    expect(reuse.prefixRuns).toBe(1);
    expect(full.prefixRuns).toBe(0);
    // The tiny graphs build attention from Concat, which cannot share its past and present buffers: the check
    // says so and every step takes the copying path.
    expect(reuse.sharedKvSteps).toBe(0);

    // Another voice gets its own prefix; the bound evicts the least recently used.
    const other = { samples: voice.samples.map((x) => x * 0.5), key: "other" };
    const a = await reuse.synthesize("Other voice.", other, options(true));
    const b = await full.synthesize("Other voice.", other, options(true));
    expect(a.tokens).toEqual(b.tokens);
    expect(reuse.prefixRuns).toBe(2);
    await reuse.release();
    await full.release();
  });

  it("keeps at most voicePrefixCacheSize prefixes", async () => {
    const bundle = await tinyBundle({ variant: "turbo", stopAfter: 2 });
    const model = await load(bundle.dir, { voicePrefixCacheSize: 1 });
    const voice = await model.defaultVoice();
    const other = { samples: voice.samples.map((x) => x * 0.5), key: "other" };
    await model.synthesize("One.", voice, options(true));
    await model.synthesize("Two.", other, options(true));
    await model.synthesize("Three.", voice, options(true));
    expect(model.prefixRuns).toBe(3);
    await model.synthesize("Four.", voice, options(true));
    expect(model.prefixRuns).toBe(3);
    await model.release();
  });
});

describe("voice-prefix KV reuse (English, with and without guidance)", () => {
  const english = (cfgWeight: number, greedy: boolean): GenerationOptions => ({
    ...resolveSettings("english", { greedy, seed: 11, cfgWeight }).generation,
    maxTokens: 30,
  });

  it("gives the same tokens as a full prefill, without guidance; guided requests prefill in full", async () => {
    const bundle = await tinyBundle({ variant: "english", stopAfter: null });
    const reuse = await load(bundle.dir);
    const full = await load(bundle.dir, { voicePrefixCacheSize: 0 });
    const voice = await reuse.defaultVoice();
    for (const cfgWeight of [0, 0.5]) {
      for (const text of ["Hello there.", "Something longer, with a comma."]) {
        const a = await reuse.synthesize(text, voice, english(cfgWeight, true));
        const b = await full.synthesize(text, voice, english(cfgWeight, true));
        expect(a.tokens).toEqual(b.tokens);
        expect(a.tokens.length).toBe(30);
      }
    }
    // Unguided requests share one prefix; guided ones (two rows) prefill in full and never touch it.
    expect(reuse.prefixRuns).toBe(1);
    expect(full.prefixRuns).toBe(0);
    await reuse.release();
    await full.release();
  });
});

describe("per-step embeddings (Turbo)", () => {
  it("cached single-token embeddings equal embed_tokens' own", async () => {
    const bundle = await tinyBundle({ variant: "turbo", stopAfter: null });
    const model = await load(bundle.dir);
    const voice = await model.defaultVoice();
    const first = await model.synthesize("Cache me.", voice, options(false, 3));
    // Same run again: every step's embedding now comes from the cache.
    const second = await model.synthesize("Cache me.", voice, options(false, 3));
    expect(second.tokens).toEqual(first.tokens);
    for (const token of new Set(first.tokens.slice(0, -1))) {
      const direct = (await model.embed([token], 1)).data as Float32Array;
      const row = (model as unknown as { tokenEmbeds: Map<number, Float32Array> }).tokenEmbeds.get(token);
      expect(row).toEqual(direct);
    }
    await model.release();
  });
});
