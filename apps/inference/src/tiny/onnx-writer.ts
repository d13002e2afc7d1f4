/**
 * A minimal ONNX (protobuf) writer: enough of onnx.proto to emit the tiny-random Chatterbox graphs without
 * a Python toolchain. Field numbers follow onnx/onnx.proto (IR version 8).
 */
import { closeSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";

export type TensorDtype = "float32" | "float16" | "int64" | "int32" | "bool" | "uint8";

const DATA_TYPE: Record<TensorDtype, number> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
};

export type Dim = number | string;

export interface TensorData {
  dtype: TensorDtype;
  dims: readonly number[];
  /** Little-endian element bytes. */
  bytes: Uint8Array;
}

export type AttributeValue =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "string"; value: string }
  | { kind: "tensor"; value: TensorData };

export const attr = {
  int: (value: number): AttributeValue => ({ kind: "int", value }),
  float: (value: number): AttributeValue => ({ kind: "float", value }),
  ints: (value: readonly number[]): AttributeValue => ({ kind: "ints", value }),
  string: (value: string): AttributeValue => ({ kind: "string", value }),
  tensor: (value: TensorData): AttributeValue => ({ kind: "tensor", value }),
};

export interface NodeSpec {
  op: string;
  /** Operator domain ("" is the default ONNX domain; e.g. "com.microsoft" for MatMulNBits). */
  domain?: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, AttributeValue>;
}

export interface ValueSpec {
  name: string;
  dtype: TensorDtype;
  dims: readonly Dim[];
}

export interface InitializerSpec extends TensorData {
  name: string;
}

/**
 * An initializer whose bytes are produced only when its sidecar is written (see writeModelStreaming), so a
 * multi-gigabyte model never holds its weights in memory at once.
 */
export interface LazyInitializerSpec {
  name: string;
  dtype: TensorDtype;
  dims: readonly number[];
  byteLength: number;
  generate: () => Uint8Array;
}

export interface ModelSpec {
  graphName: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  initializers: readonly InitializerSpec[];
  opset: number;
  /** Extra operator-set imports, e.g. { "com.microsoft": 1 }. */
  domains?: Record<string, number>;
  /** When set, initializers of at least `externalThreshold` bytes go to this sidecar file (by name, as real exports do). */
  externalDataFile?: string;
  externalThreshold?: number;
}

class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private rawVarint(value: number | bigint): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint((field << 3) | wireType);
  }

  varint(field: number, value: number): this {
    this.tag(field, 0);
    this.rawVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  packedVarints(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const value of values) inner.rawVarint(value);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function writeTensor(
  w: ProtoWriter,
  name: string,
  tensor: Pick<TensorData, "dtype" | "dims"> & { bytes?: Uint8Array },
  external?: { file: string; offset: number; length: number },
) {
  w.packedVarints(1, tensor.dims);
  w.varint(2, DATA_TYPE[tensor.dtype]);
  if (name) w.string(8, name);
  if (external) {
    const entry = (key: string, value: string) => w.message(13, (e) => e.string(1, key).string(2, value));
    entry("location", external.file);
    entry("offset", String(external.offset));
    entry("length", String(external.length));
    w.varint(14, 1);
  } else {
    w.bytes(9, tensor.bytes ?? new Uint8Array(0));
  }
}

function writeValueInfo(w: ProtoWriter, value: ValueSpec): void {
  w.string(1, value.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.varint(1, DATA_TYPE[value.dtype]);
      tensorType.message(2, (shape) => {
        for (const dim of value.dims) {
          shape.message(1, (d) => (typeof dim === "number" ? d.varint(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function writeAttribute(w: ProtoWriter, name: string, value: AttributeValue): void {
  w.string(1, name);
  switch (value.kind) {
    case "float":
      w.varint(20, 1).float(2, value.value);
      break;
    case "int":
      w.varint(20, 2).varint(3, value.value);
      break;
    case "string":
      w.varint(20, 3).string(4, value.value);
      break;
    case "tensor":
      w.varint(20, 4).message(5, (t) => writeTensor(t, "", value.value));
      break;
    case "ints":
      w.varint(20, 7).packedVarints(8, value.value);
      break;
  }
}

type ExternalRef = { file: string; offset: number; length: number };

/** The model protobuf; `placeExternal` decides, initializer by initializer, where its bytes go. */
function modelProto(
  spec: ModelSpec,
  placeExternal: (init: InitializerSpec) => ExternalRef | undefined,
  lazy: readonly LazyInitializerSpec[] = [],
  placeLazy?: (init: LazyInitializerSpec) => ExternalRef,
): Uint8Array {
  const graph = (g: ProtoWriter) => {
    spec.nodes.forEach((node, index) =>
      g.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, `${node.op}_${index}`);
        n.string(4, node.op);
        if (node.domain) n.string(7, node.domain);
        for (const [name, value] of Object.entries(node.attributes ?? {})) {
          n.message(5, (a) => writeAttribute(a, name, value));
        }
      }),
    );
    g.string(2, spec.graphName);
    for (const init of spec.initializers) {
      const external = placeExternal(init);
      g.message(5, (t) => writeTensor(t, init.name, init, external));
    }
    for (const init of lazy) g.message(5, (t) => writeTensor(t, init.name, init, placeLazy!(init)));
    for (const input of spec.inputs) g.message(11, (v) => writeValueInfo(v, input));
    for (const output of spec.outputs) g.message(12, (v) => writeValueInfo(v, output));
  };

  const model = new ProtoWriter()
    .varint(1, 8)
    .string(2, "tts-tiny-random")
    .string(3, "1")
    .message(7, graph)
    .message(8, (o) => o.string(1, "").varint(2, spec.opset));
  for (const [domain, version] of Object.entries(spec.domains ?? {})) {
    model.message(8, (o) => o.string(1, domain).varint(2, version));
  }
  return model.finish();
}

/** Serializes a model; returns the .onnx bytes and, when requested, the external data sidecar. */
export function serializeModel(spec: ModelSpec): { model: Uint8Array; externalData?: Uint8Array } {
  const externalParts: Uint8Array[] = [];
  let externalOffset = 0;
  const threshold = spec.externalThreshold ?? 1024;
  const model = modelProto(spec, (init) => {
    if (!spec.externalDataFile || init.bytes.length < threshold) return undefined;
    const external = { file: spec.externalDataFile, offset: externalOffset, length: init.bytes.length };
    externalParts.push(init.bytes);
    externalOffset += init.bytes.length;
    return external;
  });

  if (!spec.externalDataFile) return { model };
  const data = new Uint8Array(externalOffset);
  let offset = 0;
  for (const part of externalParts) {
    data.set(part, offset);
    offset += part.length;
  }
  return { model, externalData: data };
}

/**
 * Writes `onnxPath` and its sidecar `dir(onnxPath)/sidecarName`, producing each lazy initializer's bytes only as
 * it is appended to the sidecar (one weight in memory at a time). Eager initializers of at least
 * `externalThreshold` bytes go to the sidecar too. Returns the sidecar's size in bytes.
 */
export function writeModelStreaming(
  spec: ModelSpec,
  lazy: readonly LazyInitializerSpec[],
  onnxPath: string,
  sidecarName: string,
): number {
  const threshold = spec.externalThreshold ?? 1024;
  const sidecarPath = path.join(path.dirname(onnxPath), sidecarName);
  const eager: InitializerSpec[] = [];
  let offset = 0;
  const place = (length: number): ExternalRef => {
    const ref = { file: sidecarName, offset, length };
    offset += length;
    return ref;
  };
  const model = modelProto(
    spec,
    (init) => {
      if (init.bytes.length < threshold) return undefined;
      eager.push(init);
      return place(init.bytes.length);
    },
    lazy,
    (init) => place(init.byteLength),
  );
  const fd = openSync(`${sidecarPath}.partial`, "w");
  try {
    for (const init of eager) writeSync(fd, init.bytes);
    for (const init of lazy) {
      const bytes = init.generate();
      if (bytes.length !== init.byteLength) {
        throw new Error(`${init.name}: generated ${bytes.length} bytes, declared ${init.byteLength}`);
      }
      writeSync(fd, bytes);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(`${sidecarPath}.partial`, sidecarPath);
  writeFileSync(`${onnxPath}.partial`, model);
  renameSync(`${onnxPath}.partial`, onnxPath);
  return offset;
}
