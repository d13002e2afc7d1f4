import {
  serializeModel,
  type AttributeValue,
  type Dim,
  type InitializerSpec,
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
