/** Sample encodings this package reads and writes in WAV files. */
export type WavEncoding = "pcm8" | "pcm16" | "pcm24" | "pcm32" | "float32" | "float64";

export const WAVE_FORMAT_PCM = 0x0001;
export const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export function bytesPerSample(encoding: WavEncoding): number {
  switch (encoding) {
    case "pcm8":
      return 1;
    case "pcm16":
      return 2;
    case "pcm24":
      return 3;
    case "pcm32":
    case "float32":
      return 4;
    case "float64":
      return 8;
  }
}

export function formatTag(encoding: WavEncoding): number {
  return encoding.startsWith("float") ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM;
}
