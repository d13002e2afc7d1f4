import { AudioError } from "./errors";
import {
  WAVE_FORMAT_EXTENSIBLE,
  WAVE_FORMAT_IEEE_FLOAT,
  WAVE_FORMAT_PCM,
  type WavEncoding,
} from "./wav-format";

export interface DecodedAudio {
  /** Mono float samples (channels averaged), nominally in [-1, 1]. */
  samples: Float32Array;
  sampleRate: number;
  /** Channel count of the source before the downmix. */
  channels: number;
  encoding: WavEncoding;
  durationSeconds: number;
}

export interface DecodeWavOptions {
  /** Refuse audio longer than this (AudioError TOO_LONG) before decoding any sample. */
  maxDurationSeconds?: number;
}

interface FmtChunk {
  channels: number;
  sampleRate: number;
  blockAlign: number;
  encoding: WavEncoding;
}

/** The size a streaming writer puts in the data chunk when it cannot know the length: read to the end. */
const STREAMING_SIZE = 0xffffffff;
const MAX_CHANNELS = 64;
const MIN_SAMPLE_RATE = 1_000;
const MAX_SAMPLE_RATE = 768_000;

const CODEC_NAMES: Record<number, string> = {
  0x0002: "Microsoft ADPCM",
  0x0006: "A-law",
  0x0007: "mu-law",
  0x0011: "IMA ADPCM",
  0x0031: "GSM 6.10",
  0x0050: "MPEG",
  0x0055: "MP3",
};

function fourCC(view: DataView, offset: number): string {
  return String.fromCharCode(
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  );
}

function toView(input: Uint8Array | ArrayBuffer): DataView {
  return input instanceof ArrayBuffer
    ? new DataView(input)
    : new DataView(input.buffer, input.byteOffset, input.byteLength);
}

/**
 * Decodes a RIFF/WAVE file to mono float32. Chunks are walked within the bytes actually present, so a header
 * that lies about sizes can neither make it read out of bounds nor allocate more than the input justifies.
 * Every refusal is an AudioError whose message says what is wrong with the file.
 */
export function decodeWav(input: Uint8Array | ArrayBuffer, options: DecodeWavOptions = {}): DecodedAudio {
  const view = toView(input);
  const length = view.byteLength;
  if (length === 0) throw new AudioError("EMPTY", "The audio file is empty.");
  if (length < 12) throw new AudioError("NOT_WAV", `Not a WAV file: only ${length} bytes.`);
  const riff = fourCC(view, 0);
  if (riff === "RIFX") throw new AudioError("UNSUPPORTED_FORMAT", "Big-endian WAV (RIFX) is not supported.");
  if (riff !== "RIFF" || fourCC(view, 8) !== "WAVE") {
    throw new AudioError("NOT_WAV", "Not a WAV file: it does not start with a RIFF/WAVE header.");
  }

  let fmt: FmtChunk | undefined;
  let data: { offset: number; bytes: number } | undefined;
  let offset = 12;
  while (offset + 8 <= length && !(fmt && data)) {
    const id = fourCC(view, offset);
    const declared = view.getUint32(offset + 4, true);
    const body = offset + 8;
    const present = length - body;
    if (id === "fmt ") {
      if (declared > present) throw truncated("fmt", declared, present);
      fmt = parseFmt(view, body, declared);
    } else if (id === "data") {
      if (declared === STREAMING_SIZE) {
        data = { offset: body, bytes: present };
        break;
      }
      if (declared > present) throw truncated("data", declared, present);
      data = { offset: body, bytes: declared };
    }
    // Chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
    offset = body + declared + (declared % 2);
  }

  if (!fmt) {
    throw offset + 8 > length && !data
      ? new AudioError("TRUNCATED", "The WAV file ends before its format (fmt) chunk.")
      : new AudioError("INVALID_HEADER", "The WAV file has no format (fmt) chunk.");
  }
  if (!data) throw new AudioError("TRUNCATED", "The WAV file ends before its audio (data) chunk.");

  const frames = Math.floor(data.bytes / fmt.blockAlign);
  if (frames === 0) throw new AudioError("NO_AUDIO", "The WAV file contains no audio samples.");
  const durationSeconds = frames / fmt.sampleRate;
  if (options.maxDurationSeconds !== undefined && durationSeconds > options.maxDurationSeconds) {
    throw new AudioError(
      "TOO_LONG",
      `The audio is ${durationSeconds.toFixed(1)} s long; at most ${options.maxDurationSeconds} s is accepted.`,
    );
  }
  return {
    samples: readMono(view, data.offset, frames, fmt),
    sampleRate: fmt.sampleRate,
    channels: fmt.channels,
    encoding: fmt.encoding,
    durationSeconds,
  };
}

function truncated(chunk: string, declared: number, present: number): AudioError {
  return new AudioError(
    "TRUNCATED",
    `The WAV file is truncated: its ${chunk} chunk declares ${declared} bytes but only ${Math.max(0, present)} are present.`,
  );
}

function parseFmt(view: DataView, offset: number, size: number): FmtChunk {
  if (size < 16) throw new AudioError("INVALID_HEADER", `The WAV format chunk is too small (${size} bytes).`);
  let tag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const blockAlign = view.getUint16(offset + 12, true);
  const bits = view.getUint16(offset + 14, true);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40) throw new AudioError("INVALID_HEADER", "The WAVE_FORMAT_EXTENSIBLE header is incomplete.");
    // The sub-format GUID starts with the actual format tag.
    tag = view.getUint16(offset + 24, true);
  }
  if (channels === 0) throw new AudioError("INVALID_HEADER", "The WAV header declares 0 channels.");
  if (channels > MAX_CHANNELS) {
    throw new AudioError(
      "INVALID_HEADER",
      `The WAV header declares ${channels} channels (at most ${MAX_CHANNELS}).`,
    );
  }
  if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    throw new AudioError(
      "INVALID_HEADER",
      `The WAV header declares a sample rate of ${sampleRate} Hz (expected ${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE}).`,
    );
  }
  const encoding = encodingOf(tag, bits);
  if (blockAlign !== channels * (bits / 8)) {
    throw new AudioError(
      "INVALID_HEADER",
      `The WAV header's block size (${blockAlign} bytes) does not match ${channels} channel(s) of ${bits}-bit samples.`,
    );
  }
  return { channels, sampleRate, blockAlign, encoding };
}

function encodingOf(tag: number, bits: number): WavEncoding {
  if (tag === WAVE_FORMAT_PCM) {
    if (bits === 8 || bits === 16 || bits === 24 || bits === 32) return `pcm${bits}`;
    throw new AudioError(
      "UNSUPPORTED_FORMAT",
      `${bits}-bit PCM WAV is not supported (8, 16, 24 or 32 bits).`,
    );
  }
  if (tag === WAVE_FORMAT_IEEE_FLOAT) {
    if (bits === 32 || bits === 64) return `float${bits}`;
    throw new AudioError("UNSUPPORTED_FORMAT", `${bits}-bit float WAV is not supported (32 or 64 bits).`);
  }
  const codec = CODEC_NAMES[tag] ?? `format 0x${tag.toString(16).padStart(4, "0")}`;
  throw new AudioError(
    "UNSUPPORTED_FORMAT",
    `${codec} WAV is not supported; use uncompressed PCM or float WAV (any recorder's "WAV" export).`,
  );
}

function readSample(view: DataView, offset: number, encoding: WavEncoding): number {
  switch (encoding) {
    case "pcm8":
      return (view.getUint8(offset) - 128) / 128;
    case "pcm16":
      return view.getInt16(offset, true) / 32_768;
    case "pcm24":
      return (
        (view.getUint8(offset) | (view.getUint8(offset + 1) << 8) | (view.getInt8(offset + 2) << 16)) /
        8_388_608
      );
    case "pcm32":
      return view.getInt32(offset, true) / 2_147_483_648;
    case "float32":
      return view.getFloat32(offset, true);
    case "float64":
      return view.getFloat64(offset, true);
  }
}

function readMono(view: DataView, start: number, frames: number, fmt: FmtChunk): Float32Array {
  const out = new Float32Array(frames);
  const width = fmt.blockAlign / fmt.channels;
  const scale = 1 / fmt.channels;
  for (let frame = 0, offset = start; frame < frames; frame++) {
    let sum = 0;
    for (let channel = 0; channel < fmt.channels; channel++, offset += width) {
      sum += readSample(view, offset, fmt.encoding);
    }
    // Float files can hold NaN, Infinity or values beyond float32: they must not poison everything downstream.
    const value = Math.fround(sum * scale);
    out[frame] = Number.isFinite(value) ? value : 0;
  }
  return out;
}
