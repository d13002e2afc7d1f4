import { describe, expect, it } from "vitest";

import { concatBytes, createMp3Encoder, encodeMp3 } from "../src";
import { sine } from "./signals";

interface Frame {
  version: 1 | 2 | 2.5;
  bitrateKbps: number;
  sampleRate: number;
  length: number;
}

const BITRATES_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const RATES = {
  1: [44_100, 48_000, 32_000],
  2: [22_050, 24_000, 16_000],
  2.5: [11_025, 12_000, 8_000],
} as const;

/** Walks MPEG audio Layer III frame headers; throws if the stream is not a clean sequence of frames. */
function parseFrames(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset + 4 <= bytes.length) {
    const b1 = bytes[offset + 1]!;
    const b2 = bytes[offset + 2]!;
    if (bytes[offset] !== 0xff || (b1 & 0xe0) !== 0xe0) throw new Error(`no frame sync at byte ${offset}`);
    const versionBits = (b1 >> 3) & 3;
    const version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
    if (((b1 >> 1) & 3) !== 1) throw new Error("not Layer III");
    const bitrateKbps = (version === 1 ? BITRATES_V1 : BITRATES_V2)[b2 >> 4]!;
    const sampleRate = RATES[version][(b2 >> 2) & 3]!;
    const padding = (b2 >> 1) & 1;
    const length = Math.floor(((version === 1 ? 144 : 72) * bitrateKbps * 1000) / sampleRate) + padding;
    frames.push({ version, bitrateKbps, sampleRate, length });
    offset += length;
  }
  expect(offset).toBe(bytes.length);
  return frames;
}

describe("MP3 encoding", () => {
  it("encodes 24 kHz mono at the chosen bitrate with the right duration", () => {
    const mp3 = encodeMp3(sine(440, 2, 24_000), 24_000, 64);
    const frames = parseFrames(mp3);
    expect(frames.every((f) => f.sampleRate === 24_000 && f.bitrateKbps === 64 && f.version === 2)).toBe(
      true,
    );
    // MPEG-2 Layer III carries 576 samples per frame; the encoder adds at most a few frames of delay/padding.
    const seconds = (frames.length * 576) / 24_000;
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(2.15);
    expect(mp3.length).toBeCloseTo((64_000 / 8) * seconds, -2);
  });

  it("encodes 44.1 kHz at 128 kbps as MPEG-1 frames", () => {
    const frames = parseFrames(encodeMp3(sine(1000, 1, 44_100), 44_100, 128));
    expect(frames[0]).toMatchObject({ version: 1, sampleRate: 44_100, bitrateKbps: 128 });
  });

  it("streams: chunks of any size concatenate to a clean frame sequence of the same audio", () => {
    const signal = sine(440, 1, 24_000);
    const encoder = createMp3Encoder(24_000, 48);
    const cuts = [0, 100, 1252, 6252, 6585, 24_000];
    const parts = cuts.slice(1).map((end, i) => encoder.encode(signal.subarray(cuts[i], end)));
    const frames = parseFrames(concatBytes([...parts, encoder.finish()]));
    expect(frames.length).toBe(parseFrames(encodeMp3(signal, 24_000, 48)).length);
    expect((frames.length * 576) / 24_000).toBeGreaterThanOrEqual(1);
  });

  it("refuses rates and bitrates MP3 cannot carry", () => {
    expect(() => createMp3Encoder(96_000)).toThrow(/cannot carry 96000 Hz/);
    expect(() => createMp3Encoder(24_000, 100)).toThrow(/Unsupported MP3 bitrate 100 kbps/);
  });
});
