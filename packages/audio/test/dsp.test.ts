import { describe, expect, it } from "vitest";

import { clippedFraction, crossfade, peakLevel, peakNormalize, trimSilence } from "../src";
import { concat, noise, rms } from "./signals";

describe("crossfade", () => {
  it("joins with equal power: uncorrelated noise keeps its level through the overlap", () => {
    const a = noise(48_000, 0.5, 1);
    const b = noise(48_000, 0.5, 2);
    const overlap = 24_000;
    const joined = crossfade(a, b, overlap);
    expect(joined.length).toBe(a.length + b.length - overlap);
    const join = rms(joined, a.length - overlap, a.length);
    expect(join / rms(a)).toBeGreaterThan(0.97);
    expect(join / rms(a)).toBeLessThan(1.03);
  });

  it("starts as a and ends as b, with no jump at the edges of the overlap", () => {
    const a = new Float32Array(100).fill(1);
    const b = new Float32Array(100).fill(-1);
    const joined = crossfade(a, b, 40);
    expect(joined[59]).toBe(1);
    expect(joined[60]).toBeCloseTo(Math.cos(Math.PI / 160) - Math.sin(Math.PI / 160), 6);
    expect(joined[99]).toBeCloseTo(Math.cos((79 * Math.PI) / 160) - Math.sin((79 * Math.PI) / 160), 6);
    expect(joined[100]).toBe(-1);
  });

  it("with no overlap is a concatenation; refuses an overlap longer than a chunk", () => {
    expect(Array.from(crossfade(new Float32Array([1, 2]), new Float32Array([3]), 0))).toEqual([1, 2, 3]);
    expect(() => crossfade(new Float32Array(3), new Float32Array(10), 4)).toThrow(RangeError);
    expect(() => crossfade(new Float32Array(3), new Float32Array(10), 1.5)).toThrow(/whole number/);
  });
});

describe("trimSilence", () => {
  const rate = 1_000;
  const sound = noise(500, 0.5, 4).map((x) => (Math.abs(x) < 0.01 ? 0.2 : x));
  const padded = concat(new Float32Array(300), sound, new Float32Array(200).fill(0.001));

  it("removes leading and trailing silence below the threshold, keeping a little padding", () => {
    const trimmed = trimSilence(padded, rate, { thresholdDb: -40, padSeconds: 0.01 });
    expect(trimmed.start).toBe(290);
    expect(trimmed.end).toBe(810);
    expect(trimmed.samples.length).toBe(520);
  });

  it("can trim one side only", () => {
    expect(trimSilence(padded, rate, { thresholdDb: -40, padSeconds: 0, trailing: false })).toMatchObject({
      start: 300,
      end: padded.length,
    });
    expect(trimSilence(padded, rate, { thresholdDb: -40, padSeconds: 0, leading: false })).toMatchObject({
      start: 0,
      end: 800,
    });
  });

  it("returns nothing for all-silent input", () => {
    expect(trimSilence(new Float32Array(100), rate).samples.length).toBe(0);
  });
});

describe("levels", () => {
  it("peak-normalizes to the target and leaves silence alone", () => {
    const quiet = noise(1000, 0.1, 5);
    const loud = peakNormalize(quiet, -1);
    expect(20 * Math.log10(peakLevel(loud))).toBeCloseTo(-1, 5);
    expect(peakLevel(quiet)).toBeLessThanOrEqual(0.1);
    expect(Array.from(peakNormalize(new Float32Array(4)))).toEqual([0, 0, 0, 0]);
  });

  it("counts only runs of full-scale samples as clipping", () => {
    const signal = noise(1000, 0.5, 6);
    signal[10] = 1;
    expect(clippedFraction(signal)).toBe(0);
    signal.fill(1, 100, 110);
    signal.fill(-1, 995, 1000);
    expect(clippedFraction(signal)).toBeCloseTo(15 / 1000, 10);
  });
});
