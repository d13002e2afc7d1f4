import * as ort from "onnxruntime-node";

import type { KvLayout } from "./bundle";
import { presentFor } from "./contract";

/** Rows a shared cache grows by: it is re-laid out (one copy) once per this many steps. */
export const SHARED_KV_BLOCK = 32;

type KvData = Float32Array | Uint16Array;

/**
 * A decode loop's KV cache in buffers fed as `past_key_values.*` and handed back as the pre-allocated
 * `present.*` outputs, so GroupQueryAttention (in the published quantized LMs) appends each step's row in place
 * (its past_present_share_buffer mode) instead of copying the whole cache into a new present tensor every step.
 * The buffers hold `capacity` rows per head; the attention mask tells the graph how many are valid.
 */
export class SharedKv {
  private constructor(
    private readonly layout: KvLayout,
    readonly batch: number,
    private capacity: number,
    private buffers: Map<string, KvData>,
  ) {}

  /** Lays `cache` ([batch, heads, length, headDim] per name, as the prefill returned it) out with room to grow. */
  static from(layout: KvLayout, cache: Record<string, ort.Tensor>, length: number, batch: number): SharedKv {
    const shared = new SharedKv(layout, batch, 0, new Map());
    shared.relayout(length, roundUp(length + 1), (name) => cache[name]!.data as KvData, length);
    return shared;
  }

  /** Feeds and fetches for a step on top of `length` valid rows (grows the buffers first when they are full). */
  step(length: number): { past: Record<string, ort.Tensor>; present: Record<string, ort.Tensor> } {
    if (length + 1 > this.capacity) {
      const old = this.buffers;
      this.relayout(length, roundUp(length + 1), (name) => old.get(name)!, this.capacity);
    }
    const past: Record<string, ort.Tensor> = {};
    const present: Record<string, ort.Tensor> = {};
    for (const [name, data] of this.buffers) {
      // One tensor object for both: the binding wraps the same memory, which is how ORT detects sharing.
      const tensor = new ort.Tensor(this.layout.type, data, this.dims());
      past[name] = tensor;
      present[presentFor(name)] = tensor;
    }
    return { past, present };
  }

  private dims(): number[] {
    return [this.batch, this.layout.heads, this.capacity, this.layout.headDim];
  }

  /** New buffers of `capacity` rows holding the first `length` rows of each (batch, head) of `source`. */
  private relayout(length: number, capacity: number, source: (name: string) => KvData, stride: number): void {
    const { heads, headDim, type } = this.layout;
    const buffers = new Map<string, KvData>();
    for (const name of this.layout.pastNames) {
      const from = source(name);
      const size = this.batch * heads * capacity * headDim;
      const to = type === "float16" ? new Uint16Array(size) : new Float32Array(size);
      for (let row = 0; row < this.batch * heads; row++) {
        to.set(
          from.subarray(row * stride * headDim, (row * stride + length) * headDim),
          row * capacity * headDim,
        );
      }
      buffers.set(name, to);
    }
    this.buffers = buffers;
    this.capacity = capacity;
  }
}

function roundUp(rows: number): number {
  return Math.ceil(rows / SHARED_KV_BLOCK) * SHARED_KV_BLOCK;
}
