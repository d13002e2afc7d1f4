import type { AudioFormat } from "@tts/api";
import type { AudioErrorCode, ReferenceClip, ReferenceClipOptions } from "@tts/audio";

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
  | { type: "close"; session: number }
  /** An uploaded voice clip to prepare (decode, trim, resample, loudness); answered by `clip` or `clip-error`. */
  | { type: "prepare-clip"; request: number; bytes: Uint8Array; options?: ReferenceClipOptions };

/**
 * Encoder thread -> main thread, in order: a session's bytes, the last of them `final`, or an error that ends it.
 * In-process formats answer each request with the bytes it completed (possibly none); ffmpeg formats send bytes
 * as ffmpeg writes them.
 */
export type EncoderReply =
  | { type: "bytes"; session: number; bytes: Uint8Array; samples: number; final: boolean }
  | { type: "error"; session: number; message: string }
  | { type: "clip"; request: number; clip: ReferenceClip }
  /** `code` when the audio was refused (an AudioError), so the main thread can throw the same error. */
  | { type: "clip-error"; request: number; message: string; code?: AudioErrorCode };
