import { describe, expect, it } from "vitest";

import { resample, type ResampleOptions } from "../src/resample";
import * as signals from "./signals";
import { rms } from "./signals";

const AMPLITUDE = 0.5;
/** Seconds left out at each end, where the zero padding outside the input is still inside the kernel. */
const EDGE_SECONDS = 0.05;

function sine(frequency: number, rate: number, length: number, phase = 0.3): Float32Array {
  return signals.sine(frequency, length / rate, rate, AMPLITUDE, phase);
}

function middle(signal: Float32Array, rate: number): Float32Array {
  const edge = Math.round(EDGE_SECONDS * rate);
  return signal.subarray(edge, signal.length - edge);
}

function snrDb(actual: Float32Array, ideal: Float32Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < ideal.length; i++) {
    const ref = ideal[i] ?? 0;
    signal += ref * ref;
    noise += ((actual[i] ?? 0) - ref) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

function toneSnrDb(
  frequency: number,
  fromRate: number,
  toRate: number,
  seconds: number,
  options?: ResampleOptions,
): number {
  const out = resample(sine(frequency, fromRate, Math.round(seconds * fromRate)), fromRate, toRate, options);
  // Against the ideal sine at the output rate, over the middle of the signal.
  return snrDb(middle(out, toRate), middle(sine(frequency, toRate, out.length), toRate));
}

describe("resample: tones inside the passband", () => {
  const cases: [from: number, to: number, frequency: number][] = [
    [44_100, 24_000, 1_000],
    [48_000, 16_000, 1_000],
    [8_000, 24_000, 1_000],
    [22_050, 24_000, 1_000],
    [96_000, 24_000, 1_000],
    [192_000, 16_000, 1_000],
    // 44101 shares no factor with 24000: the interpolated-table path rather than an exact polyphase bank.
    [44_101, 24_000, 1_000],
    // Near the passband edge (0.4 x the lower rate) the gain is still flat.
    [44_100, 24_000, 9_600],
    [8_000, 24_000, 3_200],
    [48_000, 16_000, 6_400],
  ];

  it.each(cases)("%i -> %i Hz keeps a %i Hz sine above 60 dB SNR", (from, to, frequency) => {
    const snr = toneSnrDb(frequency, from, to, 1);
    console.log(`high ${from} -> ${to}, ${frequency} Hz: SNR ${snr.toFixed(1)} dB`);
    expect(snr).toBeGreaterThan(60);
  });

  it('"fast" keeps the 1 kHz sine above 40 dB SNR', () => {
    for (const [from, to] of [
      [44_100, 24_000],
      [48_000, 16_000],
    ] as const) {
      const snr = toneSnrDb(1_000, from, to, 1, { quality: "fast" });
      console.log(`fast ${from} -> ${to}, 1000 Hz: SNR ${snr.toFixed(1)} dB`);
      expect(snr).toBeGreaterThan(40);
    }
  });

  it("does not drift over a long irrational-looking conversion", () => {
    // 8001 -> 24000 uses the interpolated path; a position error would grow with time and show at the end.
    const from = 8_001;
    const to = 24_000;
    const out = resample(sine(1_000, from, 20 * from), from, to);
    // The last second, minus the edge where the zero padding starts.
    const tail = { start: out.length - to, end: out.length - Math.round(EDGE_SECONDS * to) };
    const ideal = sine(1_000, to, out.length).subarray(tail.start, tail.end);
    const snr = snrDb(out.subarray(tail.start, tail.end), ideal);
    console.log(`high ${from} -> ${to}, last second of 20 s: SNR ${snr.toFixed(1)} dB`);
    expect(snr).toBeGreaterThan(60);
  });
});

describe("resample: tones above the new Nyquist", () => {
  const cases: [from: number, to: number, frequency: number][] = [
    [48_000, 16_000, 9_000],
    [44_100, 24_000, 13_000],
    [192_000, 24_000, 20_000],
    // Just past the stopband edge (0.49 x the lower rate), the hardest case.
    [48_000, 16_000, 7_900],
  ];

  it.each(cases)("%i -> %i Hz attenuates a %i Hz sine by more than 40 dB", (from, to, frequency) => {
    const input = sine(frequency, from, from);
    const out = resample(input, from, to);
    const attenuation = 20 * Math.log10(rms(middle(input, from)) / rms(middle(out, to)));
    console.log(`high ${from} -> ${to}, ${frequency} Hz: attenuation ${attenuation.toFixed(1)} dB`);
    expect(attenuation).toBeGreaterThan(40);
  });

  it('"fast" also attenuates by more than 40 dB', () => {
    const input = sine(9_000, 48_000, 48_000);
    const out = resample(input, 48_000, 16_000, { quality: "fast" });
    const attenuation = 20 * Math.log10(rms(middle(input, 48_000)) / rms(middle(out, 16_000)));
    console.log(`fast 48000 -> 16000, 9000 Hz: attenuation ${attenuation.toFixed(1)} dB`);
    expect(attenuation).toBeGreaterThan(40);
  });
});

describe("resample: shape of the result", () => {
  it.each([
    [44_100, 24_000],
    [24_000, 16_000],
    [8_000, 24_000],
    [44_101, 24_000],
  ])("keeps DC at 0.25 within 1e-3 (%i -> %i Hz)", (from, to) => {
    const out = resample(new Float32Array(from).fill(0.25), from, to);
    let worst = 0;
    for (const value of middle(out, to)) worst = Math.max(worst, Math.abs(value - 0.25));
    expect(worst).toBeLessThan(1e-3);
  });

  it("produces Math.round(length * toRate / fromRate) samples", () => {
    expect(resample(new Float32Array(44_100), 44_100, 24_000).length).toBe(24_000);
    expect(resample(new Float32Array(2), 48_000, 16_000).length).toBe(1);
    expect(resample(new Float32Array(3), 16_000, 24_000).length).toBe(5);
    for (const length of [0, 1, 2, 3, 7, 100, 12_345]) {
      for (const [from, to] of [
        [44_100, 24_000],
        [48_000, 16_000],
        [16_000, 24_000],
        [8_000, 192_000],
        [44_101, 24_000],
        [22_050.5, 16_000],
      ] as const) {
        expect(resample(new Float32Array(length), from, to).length).toBe(Math.round((length * to) / from));
      }
    }
  });

  it("returns a new array with the same samples when the rates match", () => {
    const input = sine(440, 24_000, 100);
    const out = resample(input, 24_000, 24_000);
    expect(out).not.toBe(input);
    expect(out).toEqual(input);
    out[0] = 1;
    expect(input[0]).not.toBe(1);
  });

  it("returns an empty array for empty input", () => {
    const out = resample(new Float32Array(0), 44_100, 24_000);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(0);
  });

  it("handles a single input sample as a band-limited impulse", () => {
    expect(resample(Float32Array.of(1), 48_000, 16_000).length).toBe(0);
    const up = resample(Float32Array.of(1), 24_000, 48_000);
    expect(up.length).toBe(2);
    // The impulse's own instant carries most of it; nothing blows up next to the zero padding.
    expect(up[0]).toBeGreaterThan(0.8);
    expect(up[0]).toBeLessThan(1);
    expect(Math.abs(up[1] ?? Number.NaN)).toBeLessThan(1);
  });

  it.each([0, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 768_001])("rejects a rate of %s", (bad) => {
    expect(() => resample(new Float32Array(4), bad, 24_000)).toThrow(RangeError);
    expect(() => resample(new Float32Array(4), bad, 24_000)).toThrow(`fromRate`);
    expect(() => resample(new Float32Array(4), bad, 24_000)).toThrow(`got ${bad}`);
    expect(() => resample(new Float32Array(4), 24_000, bad)).toThrow(`toRate`);
    expect(() => resample(new Float32Array(0), 24_000, bad)).toThrow(RangeError);
  });

  it('"fast" uses a shorter kernel than "high"', () => {
    // Upsampling an impulse traces the kernel itself; its nonzero span is the tap count.
    const impulse = new Float32Array(400);
    impulse[200] = 1;
    const span = (quality: "fast" | "high"): number =>
      resample(impulse, 16_000, 48_000, { quality }).filter((value) => value !== 0).length;
    const fast = span("fast");
    const high = span("high");
    console.log(`impulse span at 48 kHz: fast ${fast}, high ${high} samples`);
    expect(fast).toBeLessThan(high * 0.6);
  });
});
