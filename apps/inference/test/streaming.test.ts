import { afterAll, describe, expect, it } from "vitest";

import type { Variant } from "@tts/api";

import { SAMPLES_PER_TOKEN } from "../src/engine/contract";
import { ChatterboxModel } from "../src/engine/model";
import { resolveSettings } from "../src/engine/resolve-settings";
import { DEFAULT_STREAMING, type StreamingOptions } from "../src/engine/stream-decoder";
import { DECODER_CONTEXT_TOKENS } from "../src/tiny/tiny-graphs";
import { tinyBundle } from "./support/tiny";

const loaded: ChatterboxModel[] = [];
afterAll(async () => {
  await Promise.all(loaded.map((model) => model.release()));
});

async function load(variant: Variant, streaming: Partial<StreamingOptions> = {}) {
  const bundle = await tinyBundle({ variant, stopAfter: null });
  const model = await ChatterboxModel.load(bundle.dir, {
    dtype: "fp32",
    device: "cpu",
    threads: 1,
    streaming: { ...DEFAULT_STREAMING, ...streaming },
  });
  loaded.push(model);
  return model;
}

/** Synthesizes `maxTokens` greedy tokens, keeping each streamed chunk, and decodes the same tokens in one pass. */
async function streamAndWhole(model: ChatterboxModel, maxTokens: number) {
  const chunks: Float32Array[] = [];
  const options = resolveSettings(model.variant, { greedy: true, maxTokens }).generation;
  const result = await model.synthesize("Streaming, window by window.", undefined, options, {
    onAudio: (samples) => chunks.push(samples.slice()),
  });
  const { conditioning } = await model.conditioning(await model.defaultVoice());
  const prompt = (conditioning.audioTokens.data as BigInt64Array).length;
  const whole = await model.decode(conditioning, result.decoderTokens.slice(prompt));
  return { result, chunks, whole };
}

/** Largest difference between the stream and the whole decode outside the crossfades at each join. */
function worstOutsideJoins(chunks: Float32Array[], whole: Float32Array, fade: number): number {
  let worst = 0;
  let offset = 0;
  for (const [index, chunk] of chunks.entries()) {
    const skip = index === 0 ? 0 : fade;
    for (let i = skip; i < chunk.length; i++)
      worst = Math.max(worst, Math.abs(chunk[i]! - whole[offset + i]!));
    offset += chunk.length;
  }
  return worst;
}

describe("the tiny decoder has a receptive field, as the real one does", () => {
  it(`a token shapes the audio of the ${DECODER_CONTEXT_TOKENS} tokens on each side of it, and no others`, async () => {
    const model = await load("turbo");
    const { conditioning } = await model.conditioning(await model.defaultVoice());
    const tokens = Array.from({ length: 30 }, (_, i) => (i * 977 + 13) % 6000);
    const changed = tokens.with(15, 4321);
    const [a, b] = [await model.decode(conditioning, tokens), await model.decode(conditioning, changed)];
    const differs = tokens.map((_, t) => {
      let diff = 0;
      for (let i = t * SAMPLES_PER_TOKEN; i < (t + 1) * SAMPLES_PER_TOKEN; i++)
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      return diff > 1e-4;
    });
    const expected = tokens.map((_, t) => Math.abs(t - 15) <= DECODER_CONTEXT_TOKENS);
    expect(differs).toEqual(expected);
  });
});

describe.each(["turbo", "english"] as const)("streamed decoding (%s)", (variant) => {
  it("equals a whole-sequence decode of the same tokens everywhere outside the crossfades", async () => {
    const model = await load(variant);
    const { result, chunks, whole } = await streamAndWhole(model, 300);
    expect(result.waveform).toHaveLength(0); // taken chunk by chunk
    expect(chunks.length).toBeGreaterThan(4);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(whole.length);
    expect(worstOutsideJoins(chunks, whole, DEFAULT_STREAMING.crossfadeSamples)).toBeLessThan(1e-5);
  });

  it("differs from it when windows get no context, or no lookahead (so the equality above means something)", async () => {
    for (const starved of [{ contextTokens: 0 }, { lookaheadTokens: 0 }]) {
      const model = await load(variant, starved);
      const { chunks, whole } = await streamAndWhole(model, 300);
      expect(worstOutsideJoins(chunks, whole, DEFAULT_STREAMING.crossfadeSamples)).toBeGreaterThan(1e-3);
    }
  });

  it("does decoder work linear in the length, and its first audio comes early", async () => {
    const model = await load(variant);
    const short = (await streamAndWhole(model, 200)).result;
    const long = (await streamAndWhole(model, 1000)).result;
    for (const { decodedTokens, tokens } of [short, long]) {
      // Every window repeats at most its context and overlap; a quadratic decoder would pass ~N²/2 tokens.
      expect(decodedTokens).toBeLessThan(1.6 * tokens.length + 100);
    }
    expect(long.decodedTokens / short.decodedTokens).toBeLessThan(5.5);
    expect(long.timings.firstAudioMs).toBeGreaterThan(0);
    expect(long.timings.firstAudioMs).toBeLessThan(long.timings.totalMs / 3);
  });
});

describe("decoder windows by listener", () => {
  it("without a listener, a chunk is decoded in one run over the prompt, and equals the streamed audio", async () => {
    const model = await load("turbo");
    const options = resolveSettings("turbo", { greedy: true, maxTokens: 300 }).generation;
    const file = await model.synthesize("Streaming, window by window.", undefined, options);
    const { chunks, result: streamed } = await streamAndWhole(model, 300);
    expect(file.tokens).toEqual(streamed.tokens);
    // One window: the speech tokens and Turbo's 3 silence ones, no context repeated.
    expect(file.decodedTokens).toBe(file.tokens.filter((t) => t < 6561).length + 3);
    expect(streamed.decodedTokens).toBeGreaterThan(file.decodedTokens + 5 * DEFAULT_STREAMING.contextTokens);
    expect(worstOutsideJoins(chunks, file.waveform, DEFAULT_STREAMING.crossfadeSamples)).toBeLessThan(1e-5);
    expect(file.timings.firstAudioMs).toBeGreaterThan(0.9 * file.timings.totalMs);
  });

  it("a text that follows audio already sent starts with the largest window", async () => {
    const model = await load("english");
    const first: number[] = [];
    const next: number[] = [];
    const generation = resolveSettings("english", { greedy: true, maxTokens: 200 }).generation;
    const run = (followsAudio: boolean, sizes: number[]) =>
      model.synthesize(
        "Chunk of a longer text.",
        undefined,
        { ...generation, followsAudio },
        {
          onAudio: (samples) => sizes.push(samples.length / SAMPLES_PER_TOKEN),
        },
      );
    const a = await run(false, first);
    const b = await run(true, next);
    expect(b.tokens).toEqual(a.tokens);
    // First audio: firstChunkTokens (minus the held-back crossfade) for a new text, maxChunkTokens for the next.
    expect(first[0]).toBeCloseTo(DEFAULT_STREAMING.firstChunkTokens - 0.5, 5);
    expect(next[0]).toBeCloseTo(DEFAULT_STREAMING.maxChunkTokens - 0.5, 5);
    expect(next.length).toBeLessThan(first.length);
  });
});
