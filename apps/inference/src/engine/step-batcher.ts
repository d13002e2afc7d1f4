import * as ort from "onnxruntime-node";

import type { KvRow, SharedKv } from "./shared-kv";

/** One language_model step over every row of `kv`, whose rows' lengths it reads; returns [rows, 1, vocab]. */
export type BatchStep = (embeds: ort.Tensor, kv: SharedKv) => Promise<ort.Tensor>;

/** One synthesis in the batch: its rows of the cache (two with English guidance). */
export interface BatchMember {
  readonly rows: readonly KvRow[];
}

interface Waiting {
  member: BatchMember;
  embeds: Float32Array;
  resolve: (logits: ort.Tensor) => void;
  reject: (error: unknown) => void;
}

/**
 * Continuous batching at the step boundary. Each synthesis keeps its own loop (sampling, streaming, hooks) and
 * asks for its next logits with `step`; once every member has asked, one language_model call runs all their
 * rows, each at its own cache length. A synthesis joins after its prefill and leaves when it ends, so rows come
 * and go between steps. With one member this is simply its decode loop on a shared cache.
 */
export class StepBatcher {
  private readonly members = new Set<BatchMember>();
  private readonly waiting = new Map<BatchMember, Waiting>();
  private running = false;
  private readonly deferred: (() => void)[] = [];
  /** language_model calls made (each serves every waiting member). */
  runs = 0;

  constructor(
    private readonly kv: SharedKv,
    private readonly hidden: number,
    private readonly run: BatchStep,
  ) {}

  /** Adds a synthesis whose prefill left `cache` ([count, heads, length, headDim]). */
  join(cache: Record<string, ort.Tensor>, count: number, length: number): BatchMember {
    const member: BatchMember = { rows: Array.from({ length: count }, () => ({ length })) };
    this.members.add(member);
    this.change(() => this.kv.add(member.rows, cache));
    return member;
  }

  /** Removes a synthesis (finished, failed or cancelled); the others may then step without it. */
  leave(member: BatchMember): void {
    if (!this.members.delete(member)) return;
    this.waiting.delete(member);
    this.change(() => this.kv.remove(member.rows));
    this.runWhenAllWait();
  }

  /** Rows change between steps only: a step in flight holds the buffers it was given. */
  private change(apply: () => void): void {
    if (this.running) this.deferred.push(apply);
    else apply();
  }

  /** The logits ([rows, 1, vocab]) after feeding `embeds` ([rows, 1, hidden]) to `member`'s rows. */
  step(member: BatchMember, embeds: ort.Tensor): Promise<ort.Tensor> {
    return new Promise((resolve, reject) => {
      this.waiting.set(member, { member, embeds: embeds.data as Float32Array, resolve, reject });
      this.runWhenAllWait();
    });
  }

  private runWhenAllWait(): void {
    if (this.running || this.waiting.size === 0 || this.waiting.size < this.members.size) return;
    void this.runAll();
  }

  private async runAll(): Promise<void> {
    this.running = true;
    const batch = [...this.waiting.values()];
    this.waiting.clear();
    try {
      const order = this.kv.order;
      const embeds = new Float32Array(order.length * this.hidden);
      for (const { member, embeds: rows } of batch) {
        for (const [i, row] of member.rows.entries())
          embeds.set(rows.subarray(i * this.hidden, (i + 1) * this.hidden), order.indexOf(row) * this.hidden);
      }
      const logits = await this.run(
        new ort.Tensor("float32", embeds, [order.length, 1, this.hidden]),
        this.kv,
      );
      this.runs++;
      for (const row of order) row.length += 1;
      const vocab = logits.dims[2]!;
      const data = logits.data as Float32Array | Uint16Array;
      for (const { member, resolve } of batch) {
        // A member's rows were added together and stay adjacent.
        const first = order.indexOf(member.rows[0]!);
        const count = member.rows.length;
        const rows = data.subarray(first * vocab, (first + count) * vocab);
        resolve(
          rows instanceof Float32Array
            ? new ort.Tensor("float32", rows, [count, 1, vocab])
            : new ort.Tensor("float16", rows, [count, 1, vocab]),
        );
      }
    } catch (error) {
      for (const { reject } of batch) reject(error);
    } finally {
      this.running = false;
      for (const apply of this.deferred.splice(0)) apply();
      this.runWhenAllWait();
    }
  }
}
