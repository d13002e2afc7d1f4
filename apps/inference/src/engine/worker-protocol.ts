import type { Device, Dtype, Variant } from "@tts/api";

import type { KvLayout } from "./bundle";
import type { GenerationOptions, Guidance, SynthesisResult, VoiceInput } from "./model";
import type { MatmulAccuracyLevel, Provider } from "./sessions";
import type { StreamingOptions } from "./stream-decoder";

/** What every engine worker loads (structured-cloned into the thread). */
export interface WorkerConfig {
  modelDir: string;
  dtype: Dtype;
  device: Device;
  threads: number;
  variant?: Variant;
  voiceCacheSize?: number;
  voicePrefixCacheSize?: number;
  streaming?: StreamingOptions;
  matmulAccuracyLevel?: MatmulAccuracyLevel;
  spinning?: boolean;
  control: SharedArrayBuffer;
}

export interface ModelInfo {
  variant: Variant;
  provider: Provider;
  kv: KvLayout;
  /** Whether it runs classifier-free guidance (see ChatterboxModel.guidance), and if not for English, why. */
  guidance: Guidance;
  guidanceProblem?: string;
}

export interface SynthesizeMessage {
  type: "synthesize";
  id: number;
  text: string;
  voice?: VoiceInput;
  /** Final options: defaults and the seed were resolved before the job was queued. */
  options: GenerationOptions;
  /** Int32Array(1) over shared memory: the main thread sets it to 1 to cancel between decode steps. */
  cancel: SharedArrayBuffer;
}

/** Finish nothing more: release the sessions and end the thread (sent only while the worker is idle). */
export interface ExitMessage {
  type: "exit";
}

/** Fault-test hook: end the thread at once with exit code 1, as a crash would (sent only while it is idle). */
export interface CrashMessage {
  type: "crash";
}

export type ToWorker = SynthesizeMessage | ExitMessage | CrashMessage;

/**
 * Int32Array(1) over shared memory per worker. Set to CRASH_NOW (a fault-test hook), a busy worker exits with
 * code 1 at its next decode step, between two session runs: terminating a thread from outside while ONNX Runtime
 * is inside run() aborts the whole process.
 */
export const CRASH_NOW = 1;

export type FromWorker =
  | { type: "ready"; info: ModelInfo }
  | { type: "load-error"; message: string }
  | { type: "token"; id: number; generated: number }
  /** Decoded audio, in order, while generation goes on (its buffer is transferred). */
  | { type: "audio"; id: number; samples: Float32Array }
  | { type: "result"; id: number; result: SynthesisResult; encoderRuns: number }
  | { type: "error"; id: number; message: string; cancelled: boolean };
