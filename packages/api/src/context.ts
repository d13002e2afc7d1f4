/**
 * What procedures may use. The inference node builds it from its engine and storage; tests build it directly.
 * Nothing here imports onnxruntime: the runtime is described through this interface and injected.
 */
export interface RuntimeBackend {
  /** ONNX Runtime execution provider name, e.g. "cpu" or "cuda". */
  name: string;
  /** True when this node can create sessions on it. */
  available: boolean;
  /** Why it is unavailable, or what it runs on. */
  detail?: string;
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
  /** Injected clock so uptime is testable. */
  now: () => number;
}
