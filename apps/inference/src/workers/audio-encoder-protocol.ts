import type { AudioFormat } from "@tts/api";

export interface EncoderWorkerData {
  /** The command that encodes the ffmpeg formats. */
  ffmpeg: string;
}

/** Main thread -> encoder thread; each session is one job's stream, its messages handled in order. */
export type EncoderRequest =
  | { type: "open"; session: number; format: AudioFormat; speed: number }
  | { type: "write"; session: number; samples: Float32Array }
  | { type: "end-chunk"; session: number; pauseMs: number }
  | { type: "finish"; session: number }
  | { type: "close"; session: number };

/**
 * Encoder thread -> main thread, in order: a session's bytes, the last of them `final`, or an error that ends it.
 * In-process formats answer each request with the bytes it completed (possibly none); ffmpeg formats send bytes
 * as ffmpeg writes them.
 */
export type EncoderReply =
  | { type: "bytes"; session: number; bytes: Uint8Array; samples: number; final: boolean }
  | { type: "error"; session: number; message: string };
