import type { Worker } from "node:worker_threads";

import { spawnWorker } from "../workers/spawn-worker";
import type { GenerationOptions, SynthesisResult, VoiceInput } from "./model";
import { voiceKey } from "./voice-key";
import {
  EXIT_NOW,
  type ExitMessage,
  type FromWorker,
  type ModelInfo,
  type SynthesizeMessage,
  type WorkerConfig,
} from "./worker-protocol";

export interface EngineConfig extends Omit<WorkerConfig, "control"> {
  /** Worker threads, each with its own sessions (CPU throughput comes from several workers of a few threads). */
  workers: number;
  log?: (message: string) => void;
}

/** One synthesis as the engine runs it: text, voice and final options (see `resolveSettings`). */
export interface SynthesisTask {
  text: string;
  voice?: VoiceInput;
  options: GenerationOptions;
}

export interface SynthesisCallbacks {
  signal?: AbortSignal;
  onToken?: (generated: number) => void;
  /** Audio as the worker decodes it, in order; the result's waveform is empty (it all came here). */
  onAudio?: (samples: Float32Array) => void;
  onStart?: () => void;
}

export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    message: string,
    readonly code: "cancelled" | "worker-crashed" | "synthesis-failed" | "load-failed" | "closed",
  ) {
    super(message);
  }
}

/** A task waiting for, or running on, a worker, with the promise to settle when it ends. */
interface PendingTask extends SynthesisCallbacks {
  message: Omit<SynthesizeMessage, "id" | "cancel">;
  resolve: (result: SynthesisResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Shared flag the worker checks between decode steps (EXIT_NOW). */
  control: Int32Array;
  running?: { id: number; task: PendingTask; cancel: Int32Array };
  /** Voice keys this worker has conditioning for, to route repeat voices back to it. */
  voices: Set<string>;
}

/** A pool of inference workers with a FIFO of waiting jobs; a crashed worker fails its job and is replaced. */
export class Engine {
  private readonly slots: Slot[] = [];
  private readonly queue: PendingTask[] = [];
  private nextId = 1;
  private closed = false;
  private readonly encoderRunsByWorker = new Map<Worker, number>();
  /** Replacement workers still loading: close() waits for them so no thread outlives the engine. */
  private readonly spawning = new Set<Promise<void>>();
  workersStarted = 0;

  private constructor(
    private readonly config: EngineConfig,
    readonly info: ModelInfo,
  ) {}

  static async start(config: EngineConfig): Promise<Engine> {
    if (!Number.isInteger(config.workers) || config.workers < 1) throw new RangeError("workers must be >= 1");
    const first = await startEngineWorker(config);
    const engine = new Engine(config, first.info);
    engine.adopt(first.worker, first.control);
    await Promise.all(Array.from({ length: config.workers - 1 }, () => engine.replaceWorker()));
    return engine;
  }

  get encoderRuns(): number {
    let total = 0;
    for (const runs of this.encoderRunsByWorker.values()) total += runs;
    return total;
  }

  stats() {
    return {
      workers: this.slots.length,
      busy: this.slots.filter((slot) => slot.running).length,
      queued: this.queue.length,
      encoderRuns: this.encoderRuns,
      workersStarted: this.workersStarted,
    };
  }

  synthesize(task: SynthesisTask, callbacks: SynthesisCallbacks = {}): Promise<SynthesisResult> {
    if (this.closed) return Promise.reject(new EngineError("The engine is shutting down.", "closed"));
    const { text, voice: given, options } = task;
    // A content key lets repeat voices go back to the worker that already holds their conditioning.
    const voice = given && { ...given, key: given.key ?? voiceKey(given.samples) };
    return new Promise((resolve, reject) => {
      const pending: PendingTask = {
        ...callbacks,
        message: { type: "synthesize", text, voice, options },
        resolve,
        reject,
      };
      if (callbacks.signal?.aborted)
        return reject(new EngineError("Synthesis cancelled before it started.", "cancelled"));
      callbacks.signal?.addEventListener("abort", () => this.cancel(pending), { once: true });
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /**
   * Ends a worker as a crash would (its running job fails with a clear error) and starts a fresh one in its place.
   * A busy worker ends itself at its next decode step: terminating a thread from outside while ONNX Runtime is
   * inside run() aborts the whole process.
   */
  recycleWorker(index: number): void {
    const slot = this.slots[index];
    if (!slot) throw new RangeError(`no worker ${index}`);
    if (slot.running) Atomics.store(slot.control, 0, EXIT_NOW);
    else slot.worker.postMessage({ type: "exit" } satisfies ExitMessage);
  }

  /** Rejects queued jobs, cancels running ones, then lets each worker release its sessions and exit. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0))
      pending.reject(new EngineError("The engine is shutting down.", "closed"));
    await Promise.allSettled([...this.spawning]);
    await Promise.all(this.slots.map((slot) => this.stopWorker(slot)));
  }

  private async stopWorker(slot: Slot): Promise<void> {
    if (slot.running) Atomics.store(slot.running.cancel, 0, 1);
    for (let waited = 0; slot.running && waited < 10_000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const exited = new Promise<void>((resolve) => slot.worker.once("exit", () => resolve()));
    slot.worker.postMessage({ type: "exit" } satisfies ExitMessage);
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 5_000).unref());
    if ((await Promise.race([exited, timeout])) === "timeout") await slot.worker.terminate();
  }

  private cancel(pending: PendingTask): void {
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      pending.reject(new EngineError("Synthesis cancelled while queued.", "cancelled"));
      return;
    }
    const slot = this.slots.find((s) => s.running?.task === pending);
    if (slot?.running) Atomics.store(slot.running.cancel, 0, 1);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const idle = this.slots.filter((slot) => !slot.running);
      if (idle.length === 0) return;
      const task = this.queue.shift()!;
      const key = task.message.voice?.key;
      const slot = idle.find((s) => key !== undefined && s.voices.has(key)) ?? idle[0]!;
      const cancel = new Int32Array(new SharedArrayBuffer(4));
      const id = this.nextId++;
      slot.running = { id, task, cancel };
      if (key !== undefined) slot.voices.add(key);
      slot.worker.postMessage({ ...task.message, id, cancel: cancel.buffer });
      task.onStart?.();
    }
  }

  private adopt(worker: Worker, control: Int32Array): void {
    const slot: Slot = { worker, control, voices: new Set() };
    this.slots.push(slot);
    this.workersStarted++;
    worker.on("message", (message: FromWorker) => this.onMessage(slot, message));
    // An uncaught error inside the worker ends it; the exit handler fails its job and replaces it.
    worker.on("error", (error: unknown) =>
      this.config.log?.(`inference worker failed: ${error instanceof Error ? error.message : String(error)}`),
    );
    worker.on("exit", (code) => this.onExit(slot, code));
    this.dispatch();
  }

  private replaceWorker(): Promise<void> {
    const replacing = this.spawnReplacement();
    this.spawning.add(replacing);
    return replacing.finally(() => this.spawning.delete(replacing));
  }

  private async spawnReplacement(): Promise<void> {
    const { worker, control } = await startEngineWorker(this.config);
    if (this.closed) {
      await new Promise((resolve) => {
        worker.once("exit", resolve);
        worker.postMessage({ type: "exit" } satisfies ExitMessage);
      });
      return;
    }
    this.adopt(worker, control);
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    const running = slot.running;
    if (!running || !("id" in message) || message.id !== running.id) return;
    if (message.type === "token") {
      running.task.onToken?.(message.generated);
      return;
    }
    if (message.type === "audio") {
      running.task.onAudio?.(message.samples);
      return;
    }
    slot.running = undefined;
    if (message.type === "result") {
      this.encoderRunsByWorker.set(slot.worker, message.encoderRuns);
      running.task.resolve(message.result);
    } else {
      running.task.reject(
        new EngineError(message.message, message.cancelled ? "cancelled" : "synthesis-failed"),
      );
    }
    this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    if (slot.running) {
      slot.running.task.reject(
        new EngineError(
          `The inference worker crashed (exit code ${code}) during this synthesis; it has been replaced. Try again.`,
          "worker-crashed",
        ),
      );
    }
    if (this.closed) return;
    this.config.log?.(`inference worker exited (code ${code}); starting a replacement`);
    this.replaceWorker().catch((error: unknown) =>
      this.config.log?.(`could not replace the worker: ${String(error)}`),
    );
  }
}

function startEngineWorker(
  config: EngineConfig,
): Promise<{ worker: Worker; info: ModelInfo; control: Int32Array }> {
  const { log: _log, workers: _workers, ...rest } = config;
  const control = new Int32Array(new SharedArrayBuffer(4));
  const workerConfig: WorkerConfig = { ...rest, control: control.buffer };
  const worker = spawnWorker("engine-worker", new URL("./engine-worker.ts", import.meta.url), {
    workerData: workerConfig,
  });
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromWorker) => {
      if (message.type === "ready") {
        cleanup();
        resolve({ worker, info: message.info, control });
      } else if (message.type === "load-error") {
        cleanup();
        reject(new EngineError(message.message, "load-failed"));
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(
        new EngineError(
          `The inference worker exited (code ${code}) while loading the model.`,
          "worker-crashed",
        ),
      );
    };
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
