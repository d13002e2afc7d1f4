import type { AudioFormat } from "./schemas/common";
import type { Limits, ModelStatus, QueueStatus, RuntimeBackend } from "./schemas/health";
import type { Job, JobProgress, SynthesisRequest } from "./schemas/tts";
import type { Voice } from "./schemas/voices";

/**
 * Who is calling: the API key's principal, or the single local user when the node runs without keys.
 * Voices, jobs and audio belong to the principal that created them; services take its `id` as `owner` and
 * answer 404 for another's records, exactly as for ids that do not exist.
 */
export interface Principal {
  id: string;
}

/**
 * What procedures may use. The inference node builds it from its engine and storage; tests build it directly.
 * Nothing here imports onnxruntime: the runtime is described through these interfaces and injected.
 */
export interface VoiceService {
  create(owner: string, input: { name: string; file: Blob }): Promise<Voice>;
  list(owner: string): Promise<Voice[]>;
  get(owner: string, id: string): Promise<Voice>;
  rename(owner: string, id: string, name: string): Promise<Voice>;
  delete(owner: string, id: string): Promise<void>;
}

export interface TtsService {
  synthesize(owner: string, request: SynthesisRequest): Promise<Job>;
  get(owner: string, id: string): Promise<Job>;
  list(owner: string, limit: number): Promise<Job[]>;
  delete(owner: string, id: string): Promise<void>;
  /** Stops a queued or running job, keeping it as `cancelled`; an ended job is returned as it is. */
  cancel(owner: string, id: string): Promise<Job>;
  /** Progress until the job ends (the last event is `done` or `failed`); ends early when `signal` aborts. */
  progress(owner: string, id: string, signal: AbortSignal): AsyncIterable<JobProgress>;
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
  limits: Limits;
  queue: () => QueueStatus;
  /**
   * Where a media element fetches `owner`'s audio `id` (while it is made, then stored), in `format` when given:
   * a path under the node, signed for that one result when the node needs credentials (media elements cannot
   * send headers). `expiresAt` (epoch ms) is null for a node without credentials.
   */
  audioLink(
    owner: string,
    id: string,
    format: AudioFormat | undefined,
  ): { url: string; expiresAt: number | null };
  /** Where a media element fetches `owner`'s voice `id` as the model hears it (a WAV), signed like `audioLink`. */
  voiceLink(owner: string, id: string): { url: string; expiresAt: number | null };
  voices: VoiceService;
  tts: TtsService;
  /** The caller; null when keys are configured and the request presented no valid one. */
  principal: Principal | null;
  /** This request's id, also sent as `X-Request-Id`: internal errors name it instead of their detail. */
  requestId: string;
  /** Injected clock so uptime is testable. */
  now: () => number;
}
