import {
  serializeModel,
  writeModelStreaming,
  type AttributeValue,
  type Dim,
  type InitializerSpec,
  type LazyInitializerSpec,
  type NodeSpec,
  type TensorDtype,
  type ValueSpec,
} from "./onnx-writer";

const OPSET = 17;

/** Builds an ONNX graph op by op; every op returns the name of its (first) output. */
export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly initializers: InitializerSpec[] = [];
  private readonly lazy: LazyInitializerSpec[] = [];
  private readonly domains: Record<string, number> = {};
  private counter = 0;

  constructor(private readonly graphName: string) {}

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  input(name: string, dtype: TensorDtype, dims: readonly Dim[]): string {
    this.inputs.push({ name, dtype, dims });
    return name;
  }

  /** Declares a graph output and routes `value` to it. */
  output(name: string, value: string, dtype: TensorDtype, dims: readonly Dim[]): void {
    this.nodes.push({ op: "Identity", inputs: [value], outputs: [name] });
    this.outputs.push({ name, dtype, dims });
  }

  weight(values: Float32Array, dims: readonly number[], name = this.fresh("w")): string {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
    this.initializers.push({ name, dtype: "float32", dims, bytes });
    return name;
  }

  /** The values of a float32 weight added so far (for tests that check a reader against the generator). */
  weightValues(name: string): Float32Array | undefined {
    const found = this.initializers.find((initializer) => initializer.name === name);
    return found?.dtype === "float32" ? new Float32Array(found.bytes.slice().buffer) : undefined;
  }

  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({
      name: this.fresh("i64"),
      dtype: "int64",
      dims,
      bytes: new Uint8Array(data.buffer),
    });
    return this.initializers[this.initializers.length - 1]!.name;
  }

  /** A 0-d int64 constant (for Range, Gather indices and scalar arithmetic). */
  scalar(value: number): string {
    return this.int64([value], []);
  }

  float(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.weight(Float32Array.from(values), dims, this.fresh("f32"));
  }

  op(op: string, inputs: readonly string[], attributes?: Record<string, AttributeValue>): string {
    const output = this.fresh(op.toLowerCase());
    this.nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  }

  /** An op of another domain (e.g. com.microsoft); the domain is imported at `version`. */
  domainOp(
    domain: string,
    version: number,
    op: string,
    inputs: readonly string[],
    attributes?: Record<string, AttributeValue>,
  ): string {
    return this.domainOpOutputs(domain, version, op, inputs, 1, attributes)[0]!;
  }

  /** `domainOp` for an op with `count` outputs (e.g. GroupQueryAttention's output and present key/value). */
  domainOpOutputs(
    domain: string,
    version: number,
    op: string,
    inputs: readonly string[],
    count: number,
    attributes?: Record<string, AttributeValue>,
  ): string[] {
    this.domains[domain] = version;
    const outputs = Array.from({ length: count }, () => this.fresh(op.toLowerCase()));
    this.nodes.push({ op, domain, inputs, outputs, attributes });
    return outputs;
  }

  /** A weight whose bytes are generated only while the sidecar is written (`writeStreaming`). */
  lazyWeight(
    dtype: TensorDtype,
    dims: readonly number[],
    byteLength: number,
    generate: () => Uint8Array,
    name = this.fresh("w"),
  ): string {
    this.lazy.push({ name, dtype, dims, byteLength, generate });
    return name;
  }

  /** The nodes so far (for inspection in tests). */
  get nodeSpecs(): readonly NodeSpec[] {
    return this.nodes;
  }

  /** Bytes of every weight, eager and lazy. */
  get weightBytes(): number {
    return (
      this.initializers.reduce((sum, init) => sum + init.bytes.length, 0) +
      this.lazy.reduce((sum, init) => sum + init.byteLength, 0)
    );
  }

  /** Writes the graph to `onnxPath` and every large weight to the sidecar next to it, one weight at a time. */
  writeStreaming(onnxPath: string, sidecarName: string): number {
    return writeModelStreaming(
      {
        graphName: this.graphName,
        nodes: this.nodes,
        inputs: this.inputs,
        outputs: this.outputs,
        initializers: this.initializers,
        opset: OPSET,
        domains: this.domains,
        externalDataFile: sidecarName,
      },
      this.lazy,
      onnxPath,
      sidecarName,
    );
  }

  build(externalDataFile?: string): { model: Uint8Array; externalData?: Uint8Array } {
    return serializeModel({
      graphName: this.graphName,
      nodes: this.nodes,
      inputs: this.inputs,
      outputs: this.outputs,
      initializers: this.initializers,
      opset: OPSET,
      externalDataFile,
    });
  }
}
