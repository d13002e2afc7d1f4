import { open, readFile } from "node:fs/promises";
import path from "node:path";

import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";

import { ENGLISH_TEXT_VOCAB } from "./contract";
import { halfToFloat } from "./float-bits";

// A CommonJS module: its namespace arrives as the default export under ESM.
const { onnx } = onnxProto as unknown as { onnx: typeof OnnxTypes };
type NodeProto = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;

/** A learned embedding table: `rows` x `cols` floats, row-major. */
export interface EmbeddingTable {
  rows: number;
  cols: number;
  values: Float32Array;
}

/** The text-position table of an English `embed_tokens`, or why there is none. */
export type TextPositions = { table: EmbeddingTable } | { missing: string };

/** Nodes that pass a table through unchanged on its way to a Gather. */
const PASS_THROUGH = new Set(["Cast", "Identity"]);
/** Row lookups: a plain Gather, or a quantized export's 4-bit one (its packed data has a row per id too). */
const LOOKUPS = new Set(["Gather", "GatherBlockQuantized"]);

/**
 * Reads the learned text-position table out of an English `embed_tokens` graph (and its `.onnx_data` sidecar),
 * once per model load. The export computes text rows as `text_emb(ids) + text_pos_emb(positions)` in one output;
 * upstream's unconditional guidance row needs the second term alone. The table is found by structure, not by
 * name: an Add of two Gathers on initializer tables, one of them with a row per text token (the vocabulary, a
 * plain or a 4-bit GatherBlockQuantized table); the other, a plain float table as wide as the embeddings
 * (`hidden`), is the positions.
 */
export async function readTextPositions(graphFile: string, hidden: number): Promise<TextPositions> {
  const model = onnx.ModelProto.decode(await readFile(graphFile));
  const graph = model.graph;
  if (!graph) return { missing: "the embed_tokens file holds no graph" };
  const nodes = graph.node ?? [];
  const initializers = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? "", tensor]));
  const producers = new Map<string, NodeProto>();
  for (const node of nodes) for (const output of node.output ?? []) producers.set(output, node);

  /** The initializer a value comes from, through casts; undefined for anything computed. */
  const initializerOf = (name: string): TensorProto | undefined => {
    for (let hops = 0; hops < 3; hops++) {
      const tensor = initializers.get(name);
      if (tensor) return tensor;
      const node = producers.get(name);
      if (!node || !PASS_THROUGH.has(node.opType ?? "") || !node.input?.[0]) return undefined;
      name = node.input[0];
    }
    return undefined;
  };
  /** The table a lookup reads rows of, when the value is such a lookup (and which kind it is). */
  const gatheredTable = (name: string): { tensor: TensorProto; plain: boolean } | undefined => {
    const node = producers.get(name);
    if (!LOOKUPS.has(node?.opType ?? "") || !node?.input?.[0]) return undefined;
    const tensor = initializerOf(node.input[0]);
    return tensor && { tensor, plain: node.opType === "Gather" };
  };

  for (const node of nodes) {
    if (node.opType !== "Add" || node.input?.length !== 2) continue;
    const tables = node.input.map(gatheredTable);
    if (!tables[0] || !tables[1]) continue;
    const shapes = tables.map((table) => (table!.tensor.dims ?? []).map(Number));
    const tokenIndex = shapes.findIndex((dims) => dims.length === 2 && dims[0] === ENGLISH_TEXT_VOCAB);
    if (tokenIndex < 0 || !tables[1 - tokenIndex]!.plain) continue;
    const positions = tables[1 - tokenIndex]!.tensor;
    const [rows = 0, cols = 0] = shapes[1 - tokenIndex]!;
    if (shapes[1 - tokenIndex]!.length !== 2 || cols !== hidden)
      return {
        missing: `the text-position table ${positions.name} is [${shapes[1 - tokenIndex]!.join(", ")}], not [n, ${hidden}]`,
      };
    const values = await tensorValues(positions, path.dirname(graphFile), rows * cols);
    return { table: { rows, cols, values } };
  }
  return { missing: "embed_tokens has no Add of a text-token table and a text-position table" };
}

/** An initializer's floats, wherever the file keeps them (inline raw bytes, float_data, or the sidecar). */
async function tensorValues(tensor: TensorProto, dir: string, count: number): Promise<Float32Array> {
  const half = tensor.dataType === onnx.TensorProto.DataType.FLOAT16;
  if (!half && tensor.dataType !== onnx.TensorProto.DataType.FLOAT)
    throw new Error(`table ${tensor.name} holds data type ${tensor.dataType}, not float32 or float16`);
  let bytes: Uint8Array;
  if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const entry = (key: string) => tensor.externalData?.find((item) => item.key === key)?.value ?? undefined;
    const location = entry("location");
    if (!location || path.isAbsolute(location) || location.split(/[\\/]/).includes(".."))
      throw new Error(`table ${tensor.name} names no usable external file (${location ?? "none"})`);
    const offset = Number(entry("offset") ?? 0);
    const length = Number(entry("length") ?? count * (half ? 2 : 4));
    const file = await open(path.join(dir, location), "r");
    try {
      bytes = new Uint8Array(length);
      const { bytesRead } = await file.read(bytes, 0, length, offset);
      if (bytesRead !== length) throw new Error(`table ${tensor.name}: ${location} ends early`);
    } finally {
      await file.close();
    }
  } else if (tensor.rawData && tensor.rawData.length > 0) {
    bytes = tensor.rawData;
  } else if (!half && tensor.floatData && tensor.floatData.length > 0) {
    return Float32Array.from(tensor.floatData);
  } else {
    throw new Error(`table ${tensor.name} has no data`);
  }
  if (bytes.length !== count * (half ? 2 : 4))
    throw new Error(
      `table ${tensor.name} has ${bytes.length} bytes, not ${count} ${half ? "halves" : "floats"}`,
    );
  // Copied into a buffer of its own: protobuf hands out Node Buffers, views into a shared pool at any offset.
  const aligned = new Uint8Array(bytes).buffer;
  if (!half) return new Float32Array(aligned);
  const halves = new Uint16Array(aligned);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = halfToFloat(halves[i]!);
  return out;
}
