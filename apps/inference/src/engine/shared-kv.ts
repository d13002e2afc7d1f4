import * as ort from "onnxruntime-node";

import type { KvLayout } from "./bundle";
import { presentFor } from "./contract";

/** Rows a shared cache grows by: it is re-laid out (one copy) once per this many steps. */
export const SHARED_KV_BLOCK = 32;

type KvData = Float32Array | Uint16Array;

/** Row `index` of `from` (a cache's buffers, or a prefill's tensors), its positions `stride` apart. */
interface Source {
  row: KvRow;
  index: number;
  stride: number;
  from: Map<string, KvData> | Record<string, ort.Tensor>;
}

/** One sequence's place in a SharedKv: how many of its cache rows are valid. */
export interface KvRow {
  length: number;
}

/**
 * The KV cache of one or more sequences in buffers fed as `past_key_values.*` and handed back as the
 * pre-allocated `present.*` outputs, so GroupQueryAttention (in the published quantized LMs) appends each step's
 * row in place (its past_present_share_buffer mode) instead of copying the whole cache into a new present tensor
 * every step. The buffers hold `capacity` positions per (sequence, head); each sequence's valid length goes to
 * the graph through a right-padded attention mask, so sequences of different lengths share one step.
 */
export class SharedKv {
  private rows: KvRow[] = [];
  private capacity = 0;
  private buffers = new Map<string, KvData>();

  constructor(private readonly layout: KvLayout) {}

  /** The rows in batch order. */
  get order(): readonly KvRow[] {
    return this.rows;
  }

  /**
   * Appends `rows`, the sequences of `cache` ([rows, heads, length, headDim] per name, as a prefill returns
   * them; every row's `length` is that length).
   */
  add(rows: readonly KvRow[], cache: Record<string, ort.Tensor>): void {
    const length = rows[0]?.length ?? 0;
    const sources = [
      ...this.current(),
      ...rows.map((row, index) => ({ row, index, stride: length, from: cache })),
    ];
    this.relayout(sources, Math.max(this.capacity, roundUp(length + 1)));
  }

  /** Drops `rows` (a finished sequence), keeping the others in order. */
  remove(rows: readonly KvRow[]): void {
    const kept = this.current().filter(({ row }) => !rows.includes(row));
    if (kept.length === this.rows.length) return;
    this.relayout(kept, this.capacity);
  }

  /**
   * Feeds and fetches for one step of every row (room is made for the new position first). The same tensor is
   * both past and present: the binding wraps the same memory, which is how ORT detects sharing.
   */
  step(): { past: Record<string, ort.Tensor>; present: Record<string, ort.Tensor> } {
    const longest = Math.max(...this.rows.map((row) => row.length));
    if (longest + 1 > this.capacity) this.relayout(this.current(), roundUp(longest + 1));
    const dims = [this.rows.length, this.layout.heads, this.capacity, this.layout.headDim];
    const past: Record<string, ort.Tensor> = {};
    const present: Record<string, ort.Tensor> = {};
    for (const [name, data] of this.buffers) {
      const tensor = new ort.Tensor(this.layout.type, data, dims);
      past[name] = tensor;
      present[presentFor(name)] = tensor;
    }
    return { past, present };
  }

  /** This cache's rows as relayout sources. */
  private current(): Source[] {
    return this.rows.map((row, index) => ({ row, index, stride: this.capacity, from: this.buffers }));
  }

  /** New buffers of `capacity` positions holding each source row's valid positions, in the given order. */
  private relayout(sources: Source[], capacity: number): void {
    const { heads, headDim, type } = this.layout;
    const buffers = new Map<string, KvData>();
    for (const name of this.layout.pastNames) {
      const size = sources.length * heads * capacity * headDim;
      const to = type === "float16" ? new Uint16Array(size) : new Float32Array(size);
      for (const [slot, { row, index, stride, from }] of sources.entries()) {
        const data = from instanceof Map ? from.get(name)! : (from[name]!.data as KvData);
        for (let head = 0; head < heads; head++) {
          const at = (index * heads + head) * stride * headDim;
          to.set(data.subarray(at, at + row.length * headDim), (slot * heads + head) * capacity * headDim);
        }
      }
      buffers.set(name, to);
    }
    this.buffers = buffers;
    this.capacity = capacity;
    this.rows = sources.map(({ row }) => row);
  }
}

function roundUp(rows: number): number {
  return Math.ceil(rows / SHARED_KV_BLOCK) * SHARED_KV_BLOCK;
}
