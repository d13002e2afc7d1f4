/**
 * Sets the `accuracy_level` attribute of every com.microsoft MatMulNBits node in a serialized ONNX model, by a
 * minimal protobuf walk (ModelProto.graph -> GraphProto.node -> NodeProto.attribute); every other byte is copied
 * as is. ONNX Runtime reads the level from the node itself: its session option
 * `session.qdq_matmulnbits_accuracy_level` only applies to DequantizeLinear+MatMul pairs it fuses, so graphs
 * exported with MatMulNBits already in place keep their level unless the bytes say otherwise. Level 4 (int8
 * activations) selects MLAS's int8 kernels, usually the fastest on CPU. Nodes inside subgraphs and functions
 * are left alone.
 */

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTR_NAME = 1;
const ATTR_I = 3;
const ATTR_TYPE = 20;
const ATTRIBUTE_TYPE_INT = 2;

const ACCURACY_ATTRIBUTE = "accuracy_level";
const TARGET_OP = "MatMulNBits";
const TARGET_DOMAIN = "com.microsoft";

interface Field {
  number: number;
  wire: number;
  /** The whole field (tag included) as it appears in the input. */
  raw: Uint8Array;
  /** For length-delimited fields: the payload. */
  payload?: Uint8Array;
  /** For varint fields: the value. */
  value?: bigint;
}

export class OnnxParseError extends Error {
  override name = "OnnxParseError";
}

function readVarint(bytes: Uint8Array, at: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    const byte = bytes[i]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    shift += 7n;
  }
  throw new OnnxParseError("truncated or overlong varint");
}

function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const tag = readVarint(bytes, at);
    at = tag.next;
    const number = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    let payload: Uint8Array | undefined;
    let value: bigint | undefined;
    switch (wire) {
      case 0: {
        const v = readVarint(bytes, at);
        value = v.value;
        at = v.next;
        break;
      }
      case 1:
        at += 8;
        break;
      case 2: {
        const length = readVarint(bytes, at);
        const end = length.next + Number(length.value);
        if (end > bytes.length) throw new OnnxParseError(`field ${number} runs past the end of its message`);
        payload = bytes.subarray(length.next, end);
        at = end;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new OnnxParseError(`unsupported wire type ${wire} (field ${number})`);
    }
    if (at > bytes.length) throw new OnnxParseError(`field ${number} runs past the end of its message`);
    out.push({ number, wire, raw: bytes.subarray(start, at), payload, value });
  }
  return out;
}

function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function lengthDelimited(number: number, payload: Uint8Array): Uint8Array[] {
  return [varint((number << 3) | 2), varint(payload.length), payload];
}

const text = (bytes: Uint8Array | undefined) => (bytes ? new TextDecoder().decode(bytes) : "");

function accuracyAttribute(level: number): Uint8Array {
  return concat([
    ...lengthDelimited(ATTR_NAME, new TextEncoder().encode(ACCURACY_ATTRIBUTE)),
    varint((ATTR_I << 3) | 0),
    varint(level),
    varint((ATTR_TYPE << 3) | 0),
    varint(ATTRIBUTE_TYPE_INT),
  ]);
}

/** The node with its accuracy_level set to `level`, or undefined when it is not a MatMulNBits node. */
function rewriteNode(node: Uint8Array, level: number): Uint8Array | undefined {
  const parts = fields(node);
  const op = text(parts.find((f) => f.number === NODE_OP_TYPE && f.wire === 2)?.payload);
  const domain = text(parts.find((f) => f.number === NODE_DOMAIN && f.wire === 2)?.payload);
  if (op !== TARGET_OP || domain !== TARGET_DOMAIN) return undefined;
  const kept = parts.filter(
    (f) =>
      !(
        f.number === NODE_ATTRIBUTE &&
        f.wire === 2 &&
        text(fields(f.payload!).find((a) => a.number === ATTR_NAME && a.wire === 2)?.payload) ===
          ACCURACY_ATTRIBUTE
      ),
  );
  return concat([...kept.map((f) => f.raw), ...lengthDelimited(NODE_ATTRIBUTE, accuracyAttribute(level))]);
}

/**
 * `model` with every top-level MatMulNBits node's accuracy_level set to `level`, and how many nodes that
 * touched; the input itself when there are none (no copy).
 */
export function setMatmulAccuracyLevel(
  model: Uint8Array,
  level: number,
): { model: Uint8Array; nodes: number } {
  let nodes = 0;
  const top = fields(model);
  const rewritten = top.map((field) => {
    if (field.number !== MODEL_GRAPH || field.wire !== 2) return [field.raw];
    const graph = fields(field.payload!).map((g) => {
      if (g.number !== GRAPH_NODE || g.wire !== 2) return [g.raw];
      const node = rewriteNode(g.payload!, level);
      if (!node) return [g.raw];
      nodes++;
      return lengthDelimited(GRAPH_NODE, node);
    });
    return lengthDelimited(MODEL_GRAPH, concat(graph.flat()));
  });
  return nodes === 0 ? { model, nodes } : { model: concat(rewritten.flat()), nodes };
}

/** The accuracy_level of each top-level MatMulNBits node, in graph order (0 when the attribute is absent). */
export function matmulAccuracyLevels(model: Uint8Array): number[] {
  const levels: number[] = [];
  for (const field of fields(model)) {
    if (field.number !== MODEL_GRAPH || field.wire !== 2) continue;
    for (const g of fields(field.payload!)) {
      if (g.number !== GRAPH_NODE || g.wire !== 2) continue;
      const parts = fields(g.payload!);
      const op = text(parts.find((f) => f.number === NODE_OP_TYPE && f.wire === 2)?.payload);
      const domain = text(parts.find((f) => f.number === NODE_DOMAIN && f.wire === 2)?.payload);
      if (op !== TARGET_OP || domain !== TARGET_DOMAIN) continue;
      let level = 0;
      for (const a of parts) {
        if (a.number !== NODE_ATTRIBUTE || a.wire !== 2) continue;
        const attribute = fields(a.payload!);
        if (
          text(attribute.find((f) => f.number === ATTR_NAME && f.wire === 2)?.payload) !== ACCURACY_ATTRIBUTE
        )
          continue;
        level = Number(attribute.find((f) => f.number === ATTR_I && f.wire === 0)?.value ?? 0n);
      }
      levels.push(level);
    }
  }
  return levels;
}

/** Whether the bytes name the MatMulNBits op at all (a cheap test before parsing). */
export function mentionsMatmulNBits(model: Uint8Array): boolean {
  return Buffer.from(model.buffer, model.byteOffset, model.byteLength).includes(TARGET_OP);
}
