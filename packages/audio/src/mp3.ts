import { Mp3Encoder } from "@breezystack/lamejs";

import { concatBytes } from "./bytes";
import { floatToInt16 } from "./pcm";

/** Sample rates MPEG-1/2/2.5 Layer III can carry. */
export const MP3_SAMPLE_RATES = [
  8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
] as const;
export const MP3_BITRATES_KBPS = [
  8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
] as const;

/** lamejs works best on whole MPEG frames' worth of samples at a time. */
const BLOCK = 1152;

export interface Mp3StreamEncoder {
  /** Encodes more samples; returns whatever complete frames are ready (possibly none). */
  encode: (samples: Float32Array) => Uint8Array;
  /** Flushes the last frames. */
  finish: () => Uint8Array;
}

export function createMp3Encoder(sampleRate: number, bitrateKbps = 128): Mp3StreamEncoder {
  if (!(MP3_SAMPLE_RATES as readonly number[]).includes(sampleRate)) {
    throw new RangeError(
      `MP3 cannot carry ${sampleRate} Hz audio; use one of ${MP3_SAMPLE_RATES.join(", ")} Hz.`,
    );
  }
  if (!(MP3_BITRATES_KBPS as readonly number[]).includes(bitrateKbps)) {
    throw new RangeError(
      `Unsupported MP3 bitrate ${bitrateKbps} kbps; use one of ${MP3_BITRATES_KBPS.join(", ")}.`,
    );
  }
  const encoder = new Mp3Encoder(1, sampleRate, bitrateKbps);
  return {
    encode: (samples) => {
      const pcm = floatToInt16(samples);
      const parts: Uint8Array[] = [];
      for (let start = 0; start < pcm.length; start += BLOCK) {
        const frame = encoder.encodeBuffer(pcm.subarray(start, start + BLOCK));
        if (frame.length > 0) parts.push(frame);
      }
      return concatBytes(parts);
    },
    finish: () => new Uint8Array(encoder.flush()),
  };
}

/** A whole MP3 file (constant bitrate). */
export function encodeMp3(samples: Float32Array, sampleRate: number, bitrateKbps = 128): Uint8Array {
  const encoder = createMp3Encoder(sampleRate, bitrateKbps);
  return concatBytes([encoder.encode(samples), encoder.finish()]);
}
