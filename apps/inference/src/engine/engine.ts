import type { Worker } from "node:worker_threads";

import { spawnWorker } from "../workers/spawn-worker";
import type { GenerationOptions, SynthesisResult, VoiceInput } from "./model";
import { voiceKey } from "./voice-key";
import {
  CRASH_NOW,
  type CrashMessage,
  type ExitMessage,
  type FromWorker,
  type ModelInfo,
  type SynthesizeMessage,
  type WorkerConfig,
} from "./worker-protocol";

export interface EngineConfig extends Omit<WorkerConfig, "control"> {
  /** Worker threads, each with its own sessions (CPU throughput comes from several workers of a few threads). */
  workers: number;
  /**
   * Syntheses one worker runs at once, sharing each decode step (continuous batching; default 1). Worth it where
   * a step costs about the same for several rows as for one, as on a GPU; on CPU, more workers do better.
   */
  rowsPerWorker?: number;
  log?: (message: string) => void;
  /** Waits between tries to replace a worker that could not start: `first` ms, doubling up to `max`. */
  respawnDelayMs?: { first: number; max: number };
  /** Starts one worker (default `startEngineWorker`). A fault-test hook: tests replace it to make spawns fail. */
  spawnWorker?: (config: EngineConfig) => Promise<StartedWorker>;
}

export interface StartedWorker {
  worker: Worker;
  info: ModelInfo;
  control: Int32Array;
}

/** What a node needs to say whether it can serve. */
export interface EngineHealth {
  /** Workers alive with their model loaded. */
  workers: number;
  /** Workers configured. */
  wanted: number;
  /** Why the last (re)start of a worker failed; null again once all `wanted` workers run. */
  lastError: string | null;
}

const RESPAWN_DELAY_MS = { first: 1000, max: 30_000 };

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
    readonly code: "cancelled" | "worker-died" | "synthesis-failed" | "load-failed" | "closed",
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
  /** Shared flag the worker checks between decode steps (CRASH_NOW). */
  control: Int32Array;
  /** Syntheses on this worker, by message id (at most `rowsPerWorker`; they share decode steps). */
  running: Map<number, { task: PendingTask; cancel: Int32Array }>;
  /** Voice keys this worker has conditioning for, to route repeat voices back to it. */
  voices: Set<string>;
  /** Told to crash (fault-test hook): takes no new job, and no longer counts as a worker. */
  crashing?: boolean;
}

/**
 * A pool of inference workers with a FIFO of waiting jobs. A worker that dies fails the job it was running (code
 * "worker-died") and is replaced; one that cannot be replaced is retried with backoff until it starts. Jobs wait in
 * the queue meanwhile, even with no worker at all: their `signal` (the caller's timeout) is what ends them.
 */
export class Engine {
  private readonly slots: Slot[] = [];
  private readonly queue: PendingTask[] = [];
  private nextId = 1;
  private closed = false;
  private readonly encoderRunsByWorker = new Map<Worker, number>();
  /** Workers still loading: close() waits for them so no thread outlives the engine. */
  private readonly spawning = new Set<Promise<void>>();
  private readonly spawn: (config: EngineConfig) => Promise<StartedWorker>;
  private readonly respawnDelay: { first: number; max: number };
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;
  private lastError: string | null = null;
  workersStarted = 0;

  private constructor(
    private readonly config: EngineConfig,
    readonly info: ModelInfo,
  ) {
    this.spawn = config.spawnWorker ?? startEngineWorker;
    this.respawnDelay = config.respawnDelayMs ?? RESPAWN_DELAY_MS;
    this.retryDelayMs = this.respawnDelay.first;
  }

  /** Resolves once all `workers` have loaded the model; fails (leaving no thread behind) if any cannot. */
  static async start(config: EngineConfig): Promise<Engine> {
    if (!Number.isInteger(config.workers) || config.workers < 1) throw new RangeError("workers must be >= 1");
    const first = await (config.spawnWorker ?? startEngineWorker)(config);
    const engine = new Engine(config, first.info);
    engine.adopt(first);
    try {
      await Promise.all(Array.from({ length: config.workers - 1 }, () => engine.spawnOne()));
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  get encoderRuns(): number {
    let total = 0;
    for (const runs of this.encoderRunsByWorker.values()) total += runs;
    return total;
  }

  stats() {
    return {
      workers: this.liveWorkers(),
      busy: this.slots.filter((slot) => slot.running.size > 0).length,
      queued: this.queue.length,
      encoderRuns: this.encoderRuns,
      workersStarted: this.workersStarted,
    };
  }

  /** Zero `workers` means queued jobs wait (until their timeout) for a replacement that may never start. */
  health(): EngineHealth {
    return { workers: this.liveWorkers(), wanted: this.config.workers, lastError: this.lastError };
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
   * Fault-test hook, for tests only (nothing outside tests calls it; HTTP cannot reach it). Worker `index` ends
   * itself with exit code 1 as a crash would: at its next decode step if busy (its job fails with "worker-died"),
   * at once if idle. It takes no new job meanwhile; the engine replaces it as it would any dead worker.
   */
  simulateWorkerExit(index = 0): void {
    const slot = this.slots[index];
    if (!slot) throw new RangeError(`no worker ${index}`);
    slot.crashing = true;
    // Only between decode steps: ending a thread while ONNX Runtime is inside run() aborts the whole process.
    if (slot.running.size > 0) Atomics.store(slot.control, 0, CRASH_NOW);
    else slot.worker.postMessage({ type: "crash" } satisfies CrashMessage);
  }

  /** Rejects queued jobs, cancels running ones, stops retrying, then lets each worker release its sessions and exit. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const pending of this.queue.splice(0))
      pending.reject(new EngineError("The engine is shutting down.", "closed"));
    await Promise.allSettled([...this.spawning]);
    await Promise.all(this.slots.map((slot) => this.stopWorker(slot)));
  }

  private async stopWorker(slot: Slot): Promise<void> {
    // Listening first: a worker told to crash may exit while its job is being cancelled.
    const exited = new Promise<void>((resolve) => slot.worker.once("exit", () => resolve()));
    for (const { cancel } of slot.running.values()) Atomics.store(cancel, 0, 1);
    for (let waited = 0; slot.running.size > 0 && waited < 10_000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
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
    for (const slot of this.slots)
      for (const running of slot.running.values())
        if (running.task === pending) Atomics.store(running.cancel, 0, 1);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const rows = this.config.rowsPerWorker ?? 1;
      const open = this.slots.filter((slot) => slot.running.size < rows && !slot.crashing);
      if (open.length === 0) return;
      const task = this.queue.shift()!;
      const key = task.message.voice?.key;
      // The least busy worker, preferring one that holds the voice already.
      const least = Math.min(...open.map((slot) => slot.running.size));
      const candidates = open.filter((slot) => slot.running.size === least);
      const slot = candidates.find((s) => key !== undefined && s.voices.has(key)) ?? candidates[0]!;
      const cancel = new Int32Array(new SharedArrayBuffer(4));
      const id = this.nextId++;
      slot.running.set(id, { task, cancel });
      if (key !== undefined) slot.voices.add(key);
      slot.worker.postMessage({ ...task.message, id, cancel: cancel.buffer });
      task.onStart?.();
    }
  }

  private liveWorkers(): number {
    return this.slots.filter((slot) => !slot.crashing).length;
  }

  private adopt({ worker, control }: StartedWorker): void {
    const slot: Slot = { worker, control, voices: new Set(), running: new Map() };
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

  /** Starts one worker and adopts it (or, if the engine closed meanwhile, stops it). */
  private spawnOne(): Promise<void> {
    const spawning = (async () => {
      const started = await this.spawn(this.config);
      if (!this.closed) return this.adopt(started);
      await new Promise((resolve) => {
        started.worker.once("exit", resolve);
        started.worker.postMessage({ type: "exit" } satisfies ExitMessage);
      });
    })();
    this.spawning.add(spawning);
    return spawning.finally(() => this.spawning.delete(spawning));
  }

  /** Starts workers up to the wanted count; a failed start is retried with backoff (see spawnFailed). */
  private replenish(): void {
    if (this.closed || this.retryTimer) return;
    const missing = this.config.workers - this.slots.length - this.spawning.size;
    for (let i = 0; i < missing; i++) {
      this.spawnOne().then(
        () => {
          if (this.slots.length < this.config.workers) return;
          this.lastError = null;
          this.retryDelayMs = this.respawnDelay.first;
        },
        (error: unknown) => this.spawnFailed(error),
      );
    }
  }

  private spawnFailed(error: unknown): void {
    if (this.closed) return;
    this.lastError = error instanceof Error ? error.message : String(error);
    if (this.retryTimer) return;
    const delay = this.retryDelayMs;
    this.config.log?.(
      `could not start an inference worker (${this.liveWorkers()} of ${this.config.workers} running): ` +
        `${this.lastError}; retrying in ${delay / 1000} s`,
    );
    this.retryDelayMs = Math.min(delay * 2, this.respawnDelay.max);
    // Unref'd: a retry alone does not keep the process alive; close() cancels it.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.replenish();
    }, delay).unref();
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (!("id" in message)) return;
    const running = slot.running.get(message.id);
    if (!running) return;
    if (message.type === "token") {
      running.task.onToken?.(message.generated);
      return;
    }
    if (message.type === "audio") {
      running.task.onAudio?.(message.samples);
      return;
    }
    slot.running.delete(message.id);
    // It finished before its next decode step could see CRASH_NOW.
    if (slot.crashing && slot.running.size === 0)
      slot.worker.postMessage({ type: "crash" } satisfies CrashMessage);
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
    const running = [...slot.running.values()];
    slot.running.clear();
    for (const { task } of running) {
      task.reject(
        new EngineError(
          `The inference worker stopped unexpectedly (exit code ${code}) during this synthesis. Try again.`,
          "worker-died",
        ),
      );
    }
    if (this.closed) return;
    this.config.log?.(`inference worker exited (code ${code}); starting a replacement`);
    this.replenish();
  }
}

/** Starts one worker thread and resolves once its model is loaded. */
export function startEngineWorker(config: EngineConfig): Promise<StartedWorker> {
  // Only data crosses into the thread: the hooks and functions stay here.
  const {
    log: _log,
    workers: _workers,
    rowsPerWorker: _rows,
    respawnDelayMs: _delay,
    spawnWorker: _spawn,
    ...rest
  } = config;
  const control = new Int32Array(new SharedArrayBuffer(4));
  const workerConfig: WorkerConfig = { ...rest, control: control.buffer };
  return new Promise((resolve, reject) => {
    const worker = spawnWorker("engine-worker", new URL("./engine-worker.ts", import.meta.url), {
      workerData: workerConfig,
    });
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
        new EngineError(`The inference worker exited (code ${code}) while loading the model.`, "load-failed"),
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
