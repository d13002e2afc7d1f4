import { createMp3Encoder } from "./mp3";
import { encodePcm16 } from "./pcm";
import { wavHeader } from "./wav-header";

export type StreamFormat = "wav" | "pcm" | "mp3";

/**
 * Turns float chunks into bytes a client can play while the rest is still being generated. Every chunk it
 * returns is whole samples (PCM/WAV) or whole MPEG frames (MP3), so a response can be cut between any two.
 */
export interface AudioStreamEncoder {
  readonly format: StreamFormat;
  readonly contentType: string;
  /** Bytes to send before any audio (the WAV header; empty for PCM and MP3). */
  start(): Uint8Array;
  encode(samples: Float32Array): Uint8Array;
  /** Bytes that end the stream (the MP3 encoder's last frames). */
  finish(): Uint8Array;
}

export interface StreamEncoderOptions {
  sampleRate: number;
  /** MP3 only. */
  bitrateKbps?: number;
}

const EMPTY = new Uint8Array(0);

export const STREAM_CONTENT_TYPES: Record<StreamFormat, string> = {
  wav: "audio/wav",
  pcm: "audio/pcm",
  mp3: "audio/mpeg",
};

export function createStreamEncoder(
  format: StreamFormat,
  { sampleRate, bitrateKbps }: StreamEncoderOptions,
): AudioStreamEncoder {
  const contentType = STREAM_CONTENT_TYPES[format];
  switch (format) {
    case "wav":
      // 16-bit PCM behind a header whose sizes say "unknown length".
      return {
        format,
        contentType,
        start: () => wavHeader(sampleRate, "pcm16"),
        encode: encodePcm16,
        finish: () => EMPTY,
      };
    case "pcm":
      return { format, contentType, start: () => EMPTY, encode: encodePcm16, finish: () => EMPTY };
    case "mp3": {
      const mp3 = createMp3Encoder(sampleRate, bitrateKbps);
      return { format, contentType, start: () => EMPTY, encode: mp3.encode, finish: mp3.finish };
    }
  }
}
