import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import type { Variant } from "@tts/api";

import { SAMPLES_PER_TOKEN } from "../src/engine/contract";
import { ChatterboxModel, type LoadOptions } from "../src/engine/model";
import { resolveSettings } from "../src/engine/resolve-settings";
import { SHARED_KV_BLOCK } from "../src/engine/shared-kv";
import {
  makeStandinBundle,
  Q4_BLOCK_SIZE,
  resolveStandin,
  standinEmbedTokens,
  standinLanguageModel,
  type StandinOptions,
} from "../src/tiny/standin";

/** Reduced dimensions: the real graph structure, small enough to build and run in well under a second. */
const small = (variant: Variant, dtype: "fp32" | "q4", tokens: number): StandinOptions => ({
  variant,
  dtype,
  tokens,
  layers: 2,
  hidden: 64,
  heads: 4,
  // English keeps its real text vocabulary: the guidance reader tells the token table by it.
  textVocab: variant === "english" ? 704 : 1024,
  decoderWidth: 32,
  decoderBlocks: 1,
  encoderBlocks: 1,
});

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A small fp32 stand-in bundle in a temp folder, and a loader for it (one thread, CPU, `extra` options). */
async function fp32Standin(name: string, variant: Variant, tokens: number) {
  const dir = mkdtempSync(path.join(tmpdir(), `standin-${name}-`));
  made.push(dir);
  await makeStandinBundle(dir, small(variant, "fp32", tokens));
  return (extra: Partial<LoadOptions> = {}) =>
    ChatterboxModel.load(dir, { dtype: "fp32", device: "cpu", threads: 1, ...extra });
}

describe("stand-in bundles (reduced dimensions)", () => {
  it("q4 LM: every large MatMul is a com.microsoft MatMulNBits with the published attributes", () => {
    const config = resolveStandin(small("turbo", "q4", 5));
    const nodes = standinLanguageModel(config).nodeSpecs;
    const nbits = nodes.filter((n) => n.op === "MatMulNBits");
    // Per layer: fused QKV, attention out, MLP up and down; plus the speech head.
    expect(nbits).toHaveLength(2 * 4 + 1);
    for (const node of nbits) {
      expect(node.domain).toBe("com.microsoft");
      expect(node.inputs).toHaveLength(4); // A, B, scales, zero_points
      const a = node.attributes!;
      expect(a.bits).toEqual({ kind: "int", value: 4 });
      expect(a.block_size).toEqual({ kind: "int", value: Q4_BLOCK_SIZE });
      expect(a.accuracy_level).toEqual({ kind: "int", value: 0 });
      expect(a.K?.kind).toBe("int");
      expect(a.N?.kind).toBe("int");
    }
    const shapes = nbits.map((n) => [n.attributes!.K!.value, n.attributes!.N!.value]);
    expect(shapes).toContainEqual([64, 192]);
    expect(shapes).toContainEqual([256, 64]);
    expect(shapes).toContainEqual([64, 6563]);
    // Attention is one GroupQueryAttention per layer, as in the published quantized LMs: no plain MatMul is left.
    expect(nodes.filter((n) => n.op === "MatMul")).toHaveLength(0);
    const attention = nodes.filter((n) => n.op === "GroupQueryAttention");
    expect(attention).toHaveLength(2);
    expect(attention[0]).toMatchObject({ domain: "com.microsoft", outputs: { length: 3 } });
    expect(attention[0]!.attributes!.do_rotary).toBeUndefined(); // GPT-2: learned positions
    const llama = standinLanguageModel(resolveStandin(small("english", "q4", 5))).nodeSpecs;
    const rotary = llama.filter((n) => n.op === "GroupQueryAttention");
    expect(rotary).toHaveLength(2);
    expect(rotary[0]!.attributes!.do_rotary).toEqual({ kind: "int", value: 1 }); // Llama: RoPE inside
    expect(rotary[0]!.inputs).toHaveLength(9); // q, k, v, past k/v, seqlens_k, total length, cos, sin
    const embed = standinEmbedTokens(config).nodeSpecs.filter((n) => n.op === "GatherBlockQuantized");
    expect(embed).toHaveLength(2); // text and speech tables
    for (const node of embed) {
      expect(node.domain).toBe("com.microsoft");
      expect(node.attributes).toMatchObject({
        bits: { value: 4 },
        block_size: { value: Q4_BLOCK_SIZE },
        gather_axis: { value: 0 },
        quantize_axis: { value: 1 },
      });
    }
    const english = standinLanguageModel(resolveStandin(small("english", "q4", 5))).nodeSpecs;
    expect(english.filter((n) => n.op === "MatMulNBits")).toHaveLength(2 * 7 + 1);
  });

  it.each([
    ["turbo", "q4", 7],
    ["english", "fp32", 4],
    ["english", "q4", 3],
    ["turbo", "fp32", 0],
  ] as const)(
    "%s %s: loads in ChatterboxModel and synthesizes exactly %i tokens",
    async (variant, dtype, tokens) => {
      const dir = mkdtempSync(path.join(tmpdir(), `standin-${variant}-`));
      made.push(dir);
      const bundle = await makeStandinBundle(dir, small(variant, dtype, tokens));
      const suffix = dtype === "q4" ? "_q4" : "";
      expect(bundle.files.map((f) => f.path)).toContain(`onnx/language_model${suffix}.onnx_data`);
      const lm = readFileSync(path.join(dir, `onnx/language_model${suffix}.onnx`)).toString("latin1");
      expect(lm.includes("MatMulNBits")).toBe(dtype === "q4");

      const model = await ChatterboxModel.load(dir, { dtype, device: "cpu", threads: 1 });
      try {
        expect(model.variant).toBe(variant);
        const generation = { ...resolveSettings(variant, { seed: 3 }).generation, maxTokens: 100 };
        const result = await model.synthesize("Stand in for me.", undefined, generation);
        expect(result.stopReason).toBe("stop-token");
        expect(result.tokens).toHaveLength(tokens);
        const ending = variant === "turbo" ? 3 : 0;
        const speech = result.tokens.filter((t) => t < 6561).length;
        expect(result.waveform.length).toBe((speech + ending) * SAMPLES_PER_TOKEN);
        expect(result.waveform.every((s) => Number.isFinite(s) && Math.abs(s) <= 1)).toBe(true);
      } finally {
        await model.release();
      }
    },
  );
});

describe("stand-in attention (GroupQueryAttention)", () => {
  it.each(["turbo", "english"] as const)(
    "%s: a cached voice prefix and in-place KV steps give the tokens of a full prefill and copied KV",
    async (variant) => {
      const open = await fp32Standin(`prefix-${variant}`, variant, 40);
      const [reuse, full] = await Promise.all([
        open({ voicePrefixCacheSize: 4, sharedKv: true }),
        open({ voicePrefixCacheSize: 0, sharedKv: false }),
      ]);
      try {
        // English positions are rotary, counted by the attention from the cache's length: a prefix computed
        // apart must leave the text at the positions a full prefill gives it. Guided (two-row) requests must
        // still run: they prefill in full, since GroupQueryAttention refuses that case on a cache.
        for (const cfgWeight of variant === "english" ? [0, 0.5] : [0]) {
          const generation = {
            ...resolveSettings(variant, { seed: 5, greedy: true, cfgWeight }).generation,
            maxTokens: 20,
          };
          for (const text of ["Stand in for me.", "Again, with other words."]) {
            const a = await reuse.synthesize(text, undefined, generation);
            const b = await full.synthesize(text, undefined, generation);
            expect(a.tokens).toEqual(b.tokens);
          }
        }
        expect(reuse.prefixRuns).toBe(1);
        // GroupQueryAttention passes the shared-buffer check, for one row and for guidance's two.
        expect(reuse.sharedKvSteps).toBe(variant === "english" ? 4 * 19 : 2 * 19);
        expect(full.sharedKvSteps).toBe(0);
      } finally {
        await Promise.all([reuse.release(), full.release()]);
      }
    },
  );
});

describe("in-place KV steps (SharedKv)", () => {
  it(`grow their buffers past ${SHARED_KV_BLOCK} rows and still match the copying path token for token`, async () => {
    const open = await fp32Standin("shared-kv", "turbo", 400);
    const [shared, copied] = await Promise.all([open({ sharedKv: true }), open({ sharedKv: false })]);
    try {
      const generation = {
        ...resolveSettings("turbo", { seed: 9, greedy: false }).generation,
        maxTokens: SHARED_KV_BLOCK + 40,
      };
      const a = await shared.synthesize("Long enough to grow.", undefined, generation);
      const b = await copied.synthesize("Long enough to grow.", undefined, generation);
      expect(a.tokens).toEqual(b.tokens);
      expect(shared.sharedKvSteps).toBe(SHARED_KV_BLOCK + 39);
      expect(copied.sharedKvSteps).toBe(0);
    } finally {
      await Promise.all([shared.release(), copied.release()]);
    }
  });
});

describe("continuous batching (StepBatcher)", () => {
  it.each(["turbo", "english"] as const)(
    "%s: concurrent syntheses share LM steps, join and leave between them, and get their own tokens",
    async (variant) => {
      const open = await fp32Standin(`batch-${variant}`, variant, 400);
      const [batched, alone] = await Promise.all([open(), open()]);
      try {
        // Different texts (prefill lengths), limits (leaving times), sampling and, for English, guidance (two
        // rows for one request).
        const requests = [
          { text: "A first request.", maxTokens: 40, greedy: true, cfgWeight: 0 },
          {
            text: "A second, longer request with more words in it.",
            maxTokens: 25,
            greedy: false,
            cfgWeight: 0.5,
          },
          { text: "Third.", maxTokens: 30, greedy: false, cfgWeight: 0 },
        ];
        const run = (model: ChatterboxModel, r: (typeof requests)[number], hooks = {}) =>
          model.synthesize(
            r.text,
            undefined,
            {
              ...resolveSettings(variant, { seed: 4, greedy: r.greedy, cfgWeight: r.cfgWeight }).generation,
              maxTokens: r.maxTokens,
            },
            hooks,
          );
        const expected = [];
        for (const r of requests) expected.push((await run(alone, r)).tokens);

        // The third joins while the first two are already stepping together.
        let joined: Promise<Awaited<ReturnType<typeof run>>> | undefined;
        const first = run(batched, requests[0]!, {
          onToken: (n: number) => {
            if (n === 10) joined = run(batched, requests[2]!);
          },
        });
        const second = run(batched, requests[1]!);
        const [a, b] = await Promise.all([first, second]);
        const c = await joined!;
        expect([a.tokens, b.tokens, c.tokens]).toEqual(expected);

        const steps = requests.reduce((n, r) => n + r.maxTokens - 1, 0);
        expect(batched.sharedKvSteps).toBe(steps);
        // Shared steps: fewer LM calls than steps, at least as many as the longest request's.
        expect(batched.batchedRuns).toBeLessThan(steps - 20);
        expect(batched.batchedRuns).toBeGreaterThanOrEqual(requests[0]!.maxTokens - 1);
      } finally {
        await Promise.all([batched.release(), alone.release()]);
      }
    },
  );
});
