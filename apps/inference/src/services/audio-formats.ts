import type { AudioFormat } from "@tts/api";
import { STREAM_CONTENT_TYPES, type StreamFormat } from "@tts/audio";

import { SAMPLE_RATE } from "../engine/contract";

/** Formats an ffmpeg child process encodes from 16-bit PCM; the others are encoded in process (packages/audio). */
export type FfmpegFormat = Exclude<AudioFormat, StreamFormat>;

/** Per ffmpeg format: the encoder it needs (`ffmpeg -encoders`) and its codec and container arguments. */
export const FFMPEG_CODECS: Record<FfmpegFormat, { encoder: string; args: readonly string[] }> = {
  // 20 ms frames, one per Ogg page (the default page holds 1 s), so each leaves as soon as it is encoded.
  opus: {
    encoder: "libopus",
    args: [
      "-c:a",
      "libopus",
      "-b:a",
      "64k",
      "-application",
      "audio",
      "-frame_duration",
      "20",
      "-page_duration",
      "20000",
      "-f",
      "ogg",
    ],
  },
  // ADTS: self-framed AAC, playable from any frame; it cannot carry the encoder delay (1024 priming samples).
  aac: { encoder: "aac", args: ["-c:a", "aac", "-b:a", "96k", "-f", "adts"] },
  // Written to a pipe, the header never gets the total length (ffmpeg cannot seek back); decoders read to the end.
  flac: { encoder: "flac", args: ["-c:a", "flac", "-f", "flac"] },
};

export const CONTENT_TYPES: Record<AudioFormat, string> = {
  ...STREAM_CONTENT_TYPES,
  opus: "audio/ogg; codecs=opus",
  aac: "audio/aac",
  flac: "audio/flac",
};

export function isFfmpegFormat(format: AudioFormat): format is FfmpegFormat {
  return format in FFMPEG_CODECS;
}

/** ffmpeg reads mono 16-bit PCM at the model's rate on stdin and writes `format` to stdout as it encodes. */
export function ffmpegArgs(format: FfmpegFormat): string[] {
  return [
    "-loglevel",
    "error",
    // Raw PCM has nothing to probe, yet by default ffmpeg reads about 2 s of it before encoding anything.
    "-probesize",
    "32",
    "-analyzeduration",
    "0",
    "-f",
    "s16le",
    "-ar",
    String(SAMPLE_RATE),
    "-ac",
    "1",
    "-i",
    "pipe:0",
    ...FFMPEG_CODECS[format].args,
    "-flush_packets",
    "1",
    "pipe:1",
  ];
}
