import type { AudioFormat } from "@tts/api";

/** Main thread -> encoder thread; each session is one job's stream, its messages handled in order. */
export type EncoderRequest =
  | { type: "open"; session: number; format: AudioFormat; speed: number }
  | { type: "write"; session: number; samples: Float32Array }
  | { type: "end-chunk"; session: number; pauseMs: number }
  | { type: "finish"; session: number }
  | { type: "close"; session: number };

/** Encoder thread -> main thread: the bytes each request completed (possibly none), in order. */
export type EncoderReply =
  | { type: "bytes"; session: number; bytes: Uint8Array; samples: number; final: boolean }
  | { type: "error"; session: number; message: string };
