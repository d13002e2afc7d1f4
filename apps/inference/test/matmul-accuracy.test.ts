import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";

import { openGraph } from "../src/engine/sessions";
import {
  matmulAccuracyLevels,
  mentionsMatmulNBits,
  setMatmulAccuracyLevel,
} from "../src/onnx/matmul-accuracy";

// A hand-encoded ONNX model (the tiny writer has no com.microsoft domain or uint8 tensors): Y = MatMulNBits(A, B)
// followed by a Relu, with 4-bit weights in blocks of 32.

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    const byte = v % 128;
    v = Math.floor(v / 128);
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
}
const bytes = (parts: readonly (number[] | Uint8Array)[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const int = (field: number, value: number) => [...varint(field << 3), ...varint(value)];
const msg = (field: number, payload: Uint8Array | number[]) => [
  ...varint((field << 3) | 2),
  ...varint(payload.length),
  ...payload,
];
const str = (field: number, value: string) => msg(field, [...new TextEncoder().encode(value)]);

const K = 64;
const N = 48;
const BLOCK = 32;

function valueInfo(name: string, dims: readonly number[]): number[] {
  const shape = dims.flatMap((d) => msg(1, int(1, d)));
  return [...str(1, name), ...msg(2, msg(1, [...int(1, 1), ...msg(2, shape)]))];
}

function tensor(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): number[] {
  return [...dims.flatMap((d) => int(1, d)), ...int(2, dataType), ...str(8, name), ...msg(9, raw)];
}

function matmulModel(accuracyLevel?: number): Uint8Array {
  const blocks = K / BLOCK;
  const weights = new Uint8Array(N * blocks * (BLOCK / 2));
  for (let i = 0; i < weights.length; i++) weights[i] = (i * 37 + 11) & 0xff;
  const scales = new Float32Array(N * blocks).map((_, i) => 0.01 + (i % 7) * 0.003);
  const attribute = (name: string, value: number) =>
    msg(5, [...str(1, name), ...int(3, value), ...int(20, 2)]);
  const node = [
    ...str(1, "A"),
    ...str(1, "B"),
    ...str(1, "scales"),
    ...str(2, "mm"),
    ...str(3, "matmul"),
    ...str(4, "MatMulNBits"),
    ...attribute("K", K),
    ...attribute("N", N),
    ...attribute("bits", 4),
    ...attribute("block_size", BLOCK),
    ...(accuracyLevel === undefined ? [] : attribute("accuracy_level", accuracyLevel)),
    ...str(7, "com.microsoft"),
  ];
  const relu = [...str(1, "mm"), ...str(2, "Y"), ...str(3, "relu"), ...str(4, "Relu")];
  const graph = [
    ...msg(1, node),
    ...msg(1, relu),
    ...str(2, "g"),
    ...msg(5, tensor("B", 2, [N, blocks, BLOCK / 2], weights)),
    ...msg(5, tensor("scales", 1, [N * blocks], new Uint8Array(scales.buffer))),
    ...msg(11, valueInfo("A", [4, K])),
    ...msg(12, valueInfo("Y", [4, N])),
  ];
  return bytes([
    int(1, 8),
    msg(7, graph),
    msg(8, [...str(1, ""), ...int(2, 17)]),
    msg(8, [...str(1, "com.microsoft"), ...int(2, 1)]),
  ]);
}

async function run(model: Uint8Array | string, level?: 4 | "graph"): Promise<Float32Array> {
  const input = new Float32Array(4 * K).map((_, i) => Math.sin(i * 0.37));
  const session =
    typeof model === "string"
      ? await openGraph(model, { intraOpNumThreads: 1 }, level)
      : await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const out = await session.run({ A: new ort.Tensor("float32", input, [4, K]) });
  await session.release();
  return out.Y!.data as Float32Array;
}

describe("setMatmulAccuracyLevel", () => {
  it("adds accuracy_level to a MatMulNBits node without one, and replaces an existing one", () => {
    const bare = matmulModel();
    expect(matmulAccuracyLevels(bare)).toEqual([0]);
    const four = setMatmulAccuracyLevel(bare, 4);
    expect(four.nodes).toBe(1);
    expect(matmulAccuracyLevels(four.model)).toEqual([4]);

    const one = matmulModel(1);
    expect(matmulAccuracyLevels(one)).toEqual([1]);
    const rewritten = setMatmulAccuracyLevel(one, 4).model;
    expect(matmulAccuracyLevels(rewritten)).toEqual([4]);
    // Only that attribute changes: the same number of bytes (one varint) and the same model otherwise.
    expect(rewritten.length).toBe(one.length);
    expect(matmulAccuracyLevels(setMatmulAccuracyLevel(rewritten, 1).model)).toEqual([1]);
  });

  it("leaves a model without MatMulNBits untouched (the same bytes, no copy)", () => {
    const relu = bytes([int(1, 8), msg(7, [...msg(1, [...str(1, "x"), ...str(2, "y"), ...str(4, "Relu")])])]);
    expect(mentionsMatmulNBits(relu)).toBe(false);
    const result = setMatmulAccuracyLevel(relu, 4);
    expect(result.nodes).toBe(0);
    expect(result.model).toBe(relu);
  });

  it("refuses bytes that are not a protobuf message", () => {
    expect(() => setMatmulAccuracyLevel(Uint8Array.from([0x3a, 0x7f, 1]), 4)).toThrow(/past the end/);
  });

  it("ORT runs the rewritten graph at level 4 within int8-activation error of level 0", async () => {
    const bare = matmulModel();
    const level0 = await run(bare);
    const level4 = await run(setMatmulAccuracyLevel(bare, 4).model);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < level0.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(level0[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(level0[i]! - level4[i]!));
    }
    expect(maxAbs).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(0.05 * maxAbs);
  });

  it("openGraph rewrites a file's graph (4) or opens it as is (graph), the same outputs either way here", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "matmul-accuracy-"));
    const file = path.join(dir, "mm.onnx");
    writeFileSync(file, matmulModel());
    const asIs = await run(file, "graph");
    expect(asIs).toEqual(await run(matmulModel()));
    const four = await run(file, 4);
    expect(four).toEqual(await run(setMatmulAccuracyLevel(matmulModel(), 4).model));
  });
});
