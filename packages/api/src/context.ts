import type { AudioFormat } from "./schemas/common";
import type { ModelStatus, RuntimeBackend } from "./schemas/health";
import type { Job, JobProgress, SynthesisRequest } from "./schemas/tts";
import type { Voice } from "./schemas/voices";

/**
 * What procedures may use. The inference node builds it from its engine and storage; tests build it directly.
 * Nothing here imports onnxruntime: the runtime is described through these interfaces and injected.
 */
export interface VoiceService {
  create(input: { name: string; file: Blob }): Promise<Voice>;
  list(): Promise<Voice[]>;
  get(id: string): Promise<Voice>;
  rename(id: string, name: string): Promise<Voice>;
  delete(id: string): Promise<void>;
}

export interface TtsService {
  synthesize(request: SynthesisRequest): Promise<Job>;
  get(id: string): Promise<Job>;
  list(limit: number): Promise<Job[]>;
  delete(id: string): Promise<void>;
  /** Progress until the job ends (the last event is `done` or `failed`); ends early when `signal` aborts. */
  progress(id: string, signal: AbortSignal): AsyncIterable<JobProgress>;
}

export interface ApiContext {
  service: {
    name: string;
    version: string;
    /** Epoch milliseconds at which the service started. */
    startedAt: number;
  };
  onnxRuntime: {
    version: string;
    backends: () => RuntimeBackend[];
  };
  model: () => ModelStatus;
  /** The formats this node can encode, found once at start. */
  audioFormats: AudioFormat[];
  voices: VoiceService;
  tts: TtsService;
  /** Whether this request may call mutations (API keys configured and a valid one presented, or none configured). */
  authorized: boolean;
  /** Injected clock so uptime is testable. */
  now: () => number;
}
