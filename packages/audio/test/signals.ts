import wavefile from "wavefile";

import { concatSamples } from "../src/dsp";

export function sine(
  frequency: number,
  seconds: number,
  sampleRate: number,
  amplitude = 0.5,
  phase = 0,
): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  const step = (2 * Math.PI * frequency) / sampleRate;
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin(step * i + phase);
  return out;
}

/** Deterministic pseudo-random noise in [-amplitude, amplitude] (xorshift32). */
export function noise(length: number, amplitude = 0.5, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 0xffffffff - 0.5) * 2 * amplitude;
  }
  return out;
}

/** A speech-like test clip: a 220 Hz tone with a 3 Hz syllable envelope and some noise. */
export function speechLike(seconds: number, sampleRate: number, amplitude = 0.3): Float32Array {
  const tone = sine(220, seconds, sampleRate, 1);
  const hiss = noise(tone.length, 0.1, 7);
  const out = new Float32Array(tone.length);
  for (let i = 0; i < out.length; i++) {
    const envelope = 0.55 + 0.45 * Math.sin((2 * Math.PI * 3 * i) / sampleRate);
    out[i] = amplitude * envelope * ((tone[i] ?? 0) + (hiss[i] ?? 0));
  }
  return out;
}

export const concat = (...parts: Float32Array[]): Float32Array => concatSamples(parts);

export type BitDepthCode = "8" | "16" | "24" | "32" | "32f" | "64";

/** Integer sample values wavefile expects for a float signal at a given bit depth. */
function toStored(samples: Float32Array, code: BitDepthCode): ArrayLike<number> {
  if (code === "32f" || code === "64") return Float64Array.from(samples);
  const bits = Number(code);
  const max = 2 ** (bits - 1);
  const offset = bits === 8 ? 128 : 0;
  return Array.from(samples, (x) => Math.max(-max, Math.min(max - 1, Math.round(x * max))) + offset);
}

/** A WAV file written by wavefile (an independent writer), one signal per channel. */
export function makeWav(channels: Float32Array[], sampleRate: number, code: BitDepthCode): Uint8Array {
  const wav = new wavefile.WaveFile();
  const stored = channels.map((channel) => toStored(channel, code));
  wav.fromScratch(channels.length, sampleRate, code, channels.length === 1 ? stored[0]! : stored);
  return wav.toBuffer();
}

export interface Chunk {
  id: string;
  body: Uint8Array;
  /** Declared size when it should differ from the body's length (lying headers). */
  declaredSize?: number;
}

/** Assembles a RIFF/WAVE file from chunks, word-aligning odd-sized ones as the spec says. */
export function riff(chunks: Chunk[], riffSize?: number): Uint8Array {
  const parts: number[] = [];
  const u32 = (value: number) =>
    parts.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  const ascii = (text: string) => parts.push(...Array.from(text, (c) => c.charCodeAt(0)));
  ascii("RIFF");
  u32(0);
  ascii("WAVE");
  for (const chunk of chunks) {
    ascii(chunk.id.padEnd(4, " "));
    u32(chunk.declaredSize ?? chunk.body.length);
    parts.push(...chunk.body);
    if (chunk.body.length % 2 === 1) parts.push(0);
  }
  const bytes = Uint8Array.from(parts);
  new DataView(bytes.buffer).setUint32(4, riffSize ?? bytes.length - 8, true);
  return bytes;
}

export function fmtBody(fields: {
  tag?: number;
  channels?: number;
  sampleRate?: number;
  bits?: number;
  blockAlign?: number;
}): Uint8Array {
  const { tag = 1, channels = 1, sampleRate = 16_000, bits = 16 } = fields;
  const blockAlign = fields.blockAlign ?? (channels * bits) / 8;
  const body = new Uint8Array(16);
  const view = new DataView(body.buffer);
  view.setUint16(0, tag, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, sampleRate, true);
  view.setUint32(8, sampleRate * blockAlign, true);
  view.setUint16(12, blockAlign, true);
  view.setUint16(14, bits, true);
  return body;
}

export function int16Body(samples: number[]): Uint8Array {
  const body = new Uint8Array(samples.length * 2);
  const view = new DataView(body.buffer);
  samples.forEach((value, i) => view.setInt16(i * 2, value, true));
  return body;
}

export function rms(samples: Float32Array, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (samples[i] ?? 0) ** 2;
  return Math.sqrt(sum / Math.max(1, to - from));
}
