// English classifier-free guidance exactly as upstream Chatterbox: the unconditional row's text rows are the
// learned text-position embeddings alone (text tokens zeroed before positions are added). The reference below
// runs the graphs with ONNX Runtime directly and builds that row from the tiny generator's own table, so it
// shares nothing with the engine's guidance code or its table reader.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ServiceError } from "@tts/api";

import { ENGLISH_STOP_TEXT, START_SPEECH, STOP_SPEECH } from "../src/engine/contract";
import { ChatterboxModel, type GenerationOptions } from "../src/engine/model";
import { resolveSettings } from "../src/engine/resolve-settings";
import { syntheticVoice } from "../src/engine/synthetic-voice";
import { readTextPositions } from "../src/engine/text-positions";
import { GraphBuilder } from "../src/tiny/graph-builder";
import type { TinyBundle } from "../src/tiny/make-tiny";
import { embedTokens, stageSeed, TINY_TEXT_POSITION_WEIGHT, Weights } from "../src/tiny/tiny-graphs";
import { startTestNode, trpcClientError, type TestNode } from "./support/node";
import { tinyBundle } from "./support/tiny";

const TEXT = "Guidance follows the text.";
const MAX_TOKENS = 40;
const EXAGGERATION = 0.5;
const PENALTY = 1.2;
const voice = { samples: syntheticVoice(3, 11), key: "guidance-test" };

/** The text-position table as the tiny generator made it (not read back from the ONNX file). */
function generatorTable(bundle: TinyBundle): Float32Array {
  const builder = embedTokens(bundle.config, new Weights(stageSeed(bundle.config.seed, "embed_tokens")));
  return builder.weightValues(TINY_TEXT_POSITION_WEIGHT)!;
}

/**
 * Greedy tokens with guidance, computed from the graphs alone: batch 2, row 1 unconditional. `convention`
 * "positions" is upstream English; "zeros" zeroes the whole text rows (Multilingual's convention).
 */
async function referenceTokens(
  bundle: TinyBundle,
  ids: number[],
  cfgWeight: number,
  convention: "positions" | "zeros",
): Promise<number[]> {
  const open = (stage: string) => ort.InferenceSession.create(path.join(bundle.dir, "onnx", `${stage}.onnx`));
  const [encoder, embed, lm] = await Promise.all([
    open("speech_encoder"),
    open("embed_tokens"),
    open("language_model"),
  ]);
  try {
    const hidden = bundle.config.hidden;
    const features = (
      await encoder.run({ audio_values: new ort.Tensor("float32", voice.samples, [1, voice.samples.length]) })
    ).audio_features!;
    const conditioningRows = features.dims[1]!;
    const length = ids.length;
    const positions = ids.map((id, i) => (id >= START_SPEECH ? 0 : i - 1));
    const embedded = (
      await embed.run({
        input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, length]),
        position_ids: new ort.Tensor("int64", BigInt64Array.from(positions, BigInt), [1, length]),
        exaggeration: new ort.Tensor("float32", Float32Array.of(EXAGGERATION), [1]),
      })
    ).inputs_embeds!.data as Float32Array;
    const unconditional = embedded.slice();
    const table = generatorTable(bundle);
    const stopText = ids.indexOf(ENGLISH_STOP_TEXT);
    for (let row = 1; row <= stopText; row++) {
      const target = unconditional.subarray(row * hidden, (row + 1) * hidden);
      if (convention === "zeros") target.fill(0);
      else target.set(table.subarray(positions[row]! * hidden, (positions[row]! + 1) * hidden));
    }
    const total = conditioningRows + length;
    const prefill = new Float32Array(2 * total * hidden);
    const condFeatures = features.data as Float32Array;
    for (const [batchRow, text] of [embedded, unconditional].entries()) {
      prefill.set(condFeatures, batchRow * total * hidden);
      prefill.set(text, (batchRow * total + conditioningRows) * hidden);
    }
    const pastNames = lm.inputNames.filter((name) => name.startsWith("past_key_values."));
    const kvMeta = lm.inputMetadata.find((m) => m.name === pastNames[0]);
    const [, heads, , headDim] = (kvMeta as unknown as { shape: number[] }).shape;
    let past: Record<string, ort.Tensor> = Object.fromEntries(
      pastNames.map((name) => [
        name,
        new ort.Tensor("float32", new Float32Array(0), [2, heads!, 0, headDim!]),
      ]),
    );
    let inputs: ort.Tensor = new ort.Tensor("float32", prefill, [2, total, hidden]);
    let seen = 0;
    const generated = [START_SPEECH];
    const tokens: number[] = [];
    for (let step = 0; step < MAX_TOKENS; step++) {
      const rows = inputs.dims[1]!;
      seen += rows;
      const out = await lm.run({
        inputs_embeds: inputs,
        attention_mask: new ort.Tensor("int64", new BigInt64Array(2 * seen).fill(1n), [2, seen]),
        ...past,
      });
      const logits = out.logits!;
      const vocab = logits.dims[2]!;
      const data = logits.data as Float32Array;
      const last = (row: number) =>
        data.subarray((row * rows + rows - 1) * vocab, (row * rows + rows) * vocab);
      const cond = last(0);
      const uncond = last(1);
      const guided = cond.map((c, i) => c + cfgWeight * (c - uncond[i]!));
      for (const id of new Set(generated))
        guided[id] = guided[id]! > 0 ? guided[id]! / PENALTY : guided[id]! * PENALTY;
      let token = 0;
      for (let i = 1; i < vocab; i++) if (guided[i]! > guided[token]!) token = i;
      if (token === STOP_SPEECH) break;
      tokens.push(token);
      generated.push(token);
      const next = (
        await embed.run({
          input_ids: new ort.Tensor("int64", BigInt64Array.of(BigInt(token), BigInt(token)), [2, 1]),
          position_ids: new ort.Tensor("int64", BigInt64Array.of(BigInt(step + 1), BigInt(step + 1)), [2, 1]),
          exaggeration: new ort.Tensor("float32", Float32Array.of(EXAGGERATION, EXAGGERATION), [2]),
        })
      ).inputs_embeds!;
      inputs = next;
      past = Object.fromEntries(
        pastNames.map((name) => [name, out[name.replace("past_key_values.", "present.")]!]),
      );
    }
    return tokens;
  } finally {
    await Promise.all([encoder.release(), embed.release(), lm.release()]);
  }
}

function options(cfgWeight: number): GenerationOptions {
  return {
    ...resolveSettings("english", {
      greedy: true,
      cfgWeight,
      maxTokens: MAX_TOKENS,
      exaggeration: EXAGGERATION,
    }).generation,
  };
}

describe("English guidance on a tiny bundle with the export's embed_tokens structure", () => {
  let bundle: TinyBundle;
  let model: ChatterboxModel;
  beforeAll(async () => {
    bundle = await tinyBundle({ variant: "english", stopAfter: null });
    model = await ChatterboxModel.load(bundle.dir, { dtype: "fp32", device: "cpu", threads: 1 });
  });
  afterAll(() => model?.release());

  it("reads the text-position table by structure, from the sidecar, equal to what the generator made", async () => {
    const found = await readTextPositions(
      path.join(bundle.dir, "onnx", "embed_tokens.onnx"),
      bundle.config.hidden,
    );
    if (!("table" in found)) throw new Error(found.missing);
    expect(found.table.cols).toBe(bundle.config.hidden);
    expect(Buffer.from(found.table.values.buffer).equals(Buffer.from(generatorTable(bundle).buffer))).toBe(
      true,
    );
    expect(model.guidance).toBe("cfg");
  });

  it.each([0.5, 1.0])("greedy tokens equal the upstream reference with cfgWeight %s", async (cfgWeight) => {
    const ids = model.textIds(TEXT);
    const expected = await referenceTokens(bundle, ids, cfgWeight, "positions");
    expect(expected.length).toBeGreaterThan(10);
    const result = await model.synthesize(TEXT, voice, options(cfgWeight));
    expect(result.tokens).toEqual(expected);
  });

  it("tells the conventions apart: zeroed text rows (Multilingual's) give other tokens than upstream English", async () => {
    const ids = model.textIds(TEXT);
    const upstream = await referenceTokens(bundle, ids, 1.0, "positions");
    const zeroed = await referenceTokens(bundle, ids, 1.0, "zeros");
    expect(zeroed).not.toEqual(upstream);
    expect((await model.synthesize(TEXT, voice, options(1.0))).tokens).not.toEqual(zeroed);
  });
});

describe("an English export without a separate text-position table", () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({}, { variant: "english", stopAfter: 12, textPositions: false });
  });
  afterAll(() => node?.stop());

  it("runs without guidance by default, refuses a weight above 0 with the reason, and says so in health", async () => {
    const health = await node.client().health.query();
    expect(health.model).toMatchObject({ variant: "english", guidance: "none" });
    expect(health.model.guidanceProblem).toMatch(/no Add of a text-token table and a text-position table/);
    const refused = await trpcClientError(
      node.client().tts.synthesize.mutate({ text: "Hi.", cfgWeight: 0.5 }),
    );
    expect(refused.data?.httpStatus).toBe(400);
    expect(refused.message).toMatch(/cfgWeight must be 0 on this model/);
    const job = await node.client().tts.synthesize.mutate({ text: "Without guidance." });
    expect(job.status).not.toBe("failed");
    expect(() =>
      resolveSettings("english", { cfgWeight: 0.5 }, { mode: "none", problem: "no table" }),
    ).toThrow(ServiceError);
    expect(resolveSettings("english", {}, { mode: "none" }).generation.cfgWeight).toBe(0);
  });

  it("takes only the exaggeration of an OpenAI client's delivery preset", async () => {
    const res = await fetch(`${node.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "tts-1",
        input: "Calmly.",
        instructions: "Speak in a calm voice.",
        response_format: "wav",
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-instructions-applied")).toBe("calm (exaggeration 0.3, cfg_weight 0)");
    await res.arrayBuffer();
  });
});

describe("reading the text-position table", () => {
  /** An embed_tokens-like graph: token table [704, 8] + a position table built by `positions`. */
  async function graphWith(positions: (g: GraphBuilder) => string): Promise<string> {
    const g = new GraphBuilder("embed_tokens");
    const ids = g.input("input_ids", "int64", ["b", "s"]);
    const pos = g.input("position_ids", "int64", ["b", "s"]);
    const tokens = g.op("Gather", [g.weight(new Float32Array(704 * 8), [704, 8]), ids]);
    g.output("inputs_embeds", g.op("Add", [tokens, g.op("Gather", [positions(g), pos])]), "float32", [
      "b",
      "s",
      8,
    ]);
    const dir = await mkdtemp(path.join(tmpdir(), "text-positions-"));
    const { model, externalData } = g.build("embed_tokens.onnx_data");
    await writeFile(path.join(dir, "embed_tokens.onnx"), model);
    if (externalData) await writeFile(path.join(dir, "embed_tokens.onnx_data"), externalData);
    return path.join(dir, "embed_tokens.onnx");
  }

  it("checks the table's width against the hidden size, and refuses a table of another data type", async () => {
    const table = Float32Array.from({ length: 16 * 8 }, (_, i) => i / 10);
    const file = await graphWith((g) => g.weight(table, [16, 8]));
    const found = await readTextPositions(file, 8);
    expect("table" in found && [...found.table.values]).toEqual([...table]);
    expect(await readTextPositions(file, 1024)).toEqual({
      missing: expect.stringMatching(/is \[16, 8\], not \[n, 1024\]/) as string,
    });
    const ints = await graphWith((g) =>
      g.int64(
        Array.from({ length: 16 * 8 }, () => 1),
        [16, 8],
      ),
    );
    await expect(readTextPositions(ints, 8)).rejects.toThrow(/holds data type 7, not float32 or float16/);
  });
});
