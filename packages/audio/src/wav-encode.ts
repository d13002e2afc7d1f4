import wavefile from "wavefile";

import { floatToInt16 } from "./pcm";
import type { WavEncoding } from "./wav-format";

export type WavOutputEncoding = Extract<WavEncoding, "pcm16" | "float32">;
export { UNKNOWN_LENGTH, wavHeader } from "./wav-header";

/** A complete mono WAV file: 16-bit PCM (clip-safe) or 32-bit IEEE float. */
export function encodeWav(
  samples: Float32Array,
  sampleRate: number,
  encoding: WavOutputEncoding = "pcm16",
): Uint8Array {
  const wav = new wavefile.WaveFile();
  if (encoding === "pcm16") wav.fromScratch(1, sampleRate, "16", floatToInt16(samples));
  else wav.fromScratch(1, sampleRate, "32f", samples);
  return wav.toBuffer();
}
