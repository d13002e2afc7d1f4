import { describe, expect, it } from "vitest";

import { integratedLoudness, kWeightingCoefficients, normalizeLoudness, type Biquad } from "../src/loudness";
import * as signals from "./signals";
import { concat } from "./signals";

/** Sine of `seconds` at `frequency` with peak amplitude `dbfs` (0 dBFS = peak 1.0). */
function sine(sampleRate: number, seconds: number, dbfs: number, frequency = 997): Float32Array {
  return signals.sine(frequency, seconds, sampleRate, 10 ** (dbfs / 20));
}

/** |H(e^jw)| of a biquad in dB. */
function magnitudeDb(q: Biquad, frequency: number, sampleRate: number): number {
  const w = (2 * Math.PI * frequency) / sampleRate;
  const re = (c0: number, c1: number, c2: number) => c0 + c1 * Math.cos(w) + c2 * Math.cos(2 * w);
  const im = (c1: number, c2: number) => -(c1 * Math.sin(w) + c2 * Math.sin(2 * w));
  const num = re(q.b0, q.b1, q.b2) ** 2 + im(q.b1, q.b2) ** 2;
  const den = re(1, q.a1, q.a2) ** 2 + im(q.a1, q.a2) ** 2;
  return 10 * Math.log10(num / den);
}

function kWeightingDb(frequency: number, sampleRate: number): number {
  const { shelf, highpass } = kWeightingCoefficients(sampleRate);
  return magnitudeDb(shelf, frequency, sampleRate) + magnitudeDb(highpass, frequency, sampleRate);
}

/** Element-wise equality; vitest's deep equality is slow on arrays this long. */
function sameSamples(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function peakOf(samples: Float32Array): number {
  let peak = 0;
  for (const x of samples) peak = Math.max(peak, Math.abs(x));
  return peak;
}

describe("kWeightingCoefficients", () => {
  it("reproduces the BS.1770 48 kHz table", () => {
    const { shelf, highpass } = kWeightingCoefficients(48_000);
    const close = (actual: number, expected: number) =>
      expect(Math.abs(actual - expected)).toBeLessThan(1e-4);
    close(shelf.b0, 1.53512485958697);
    close(shelf.b1, -2.69169618940638);
    close(shelf.b2, 1.19839281085285);
    close(shelf.a1, -1.69065929318241);
    close(shelf.a2, 0.73248077421585);
    expect([highpass.b0, highpass.b1, highpass.b2]).toEqual([1, -2, 1]);
    close(highpass.a1, -1.99004745483398);
    close(highpass.a2, 0.99007225036621);
  });

  it("gives the same response at 44.1 kHz as at 48 kHz", () => {
    // The 44.1 kHz coefficients differ from the 48 kHz ones; only the response should match.
    expect(kWeightingCoefficients(44_100).shelf.b1).not.toBeCloseTo(
      kWeightingCoefficients(48_000).shelf.b1,
      2,
    );
    for (const frequency of [38, 1000, 10_000]) {
      expect(Math.abs(kWeightingDb(frequency, 44_100) - kWeightingDb(frequency, 48_000))).toBeLessThan(0.02);
    }
    // Sanity of the shape itself: about -6 dB at the high-pass corner, +0.7 dB at 1 kHz, +4 dB shelf.
    expect(kWeightingDb(38, 48_000)).toBeCloseTo(-6, 1);
    expect(kWeightingDb(1000, 48_000)).toBeCloseTo(0.69, 1);
    expect(kWeightingDb(10_000, 48_000)).toBeCloseTo(4.04, 1);
  });

  it("rejects sample rates the filters cannot be built for", () => {
    expect(() => kWeightingCoefficients(0)).toThrow(RangeError);
    expect(() => kWeightingCoefficients(3000)).toThrow(RangeError);
  });
});

describe("integratedLoudness", () => {
  it.each([48_000, 44_100, 24_000])("measures a 0 dBFS 997 Hz sine at %i Hz as -3.01 LUFS", (sampleRate) => {
    expect(Math.abs(integratedLoudness(sine(sampleRate, 10, 0), sampleRate) - -3.01)).toBeLessThan(0.1);
  });

  it("measures a -20 dBFS sine as -23.01 LUFS", () => {
    expect(Math.abs(integratedLoudness(sine(48_000, 10, -20), 48_000) - -23.01)).toBeLessThan(0.1);
  });

  it("accepts a bare Float32Array and a one-element channel list alike", () => {
    const tone = sine(48_000, 2, -20);
    expect(integratedLoudness([tone], 48_000)).toBe(integratedLoudness(tone, 48_000));
  });

  it("sums stereo channels (EBU Tech 3341 case 1: -23 dBFS 1 kHz in both -> -23 LUFS)", () => {
    const tone = sine(48_000, 20, -23, 1000);
    expect(Math.abs(integratedLoudness([tone, tone], 48_000) - -23)).toBeLessThan(0.1);
  });

  it("weights channels 3 and 4 by 1.41 only for five-channel input", () => {
    const tone = sine(48_000, 5, -20);
    const silence = new Float32Array(tone.length);
    const front = integratedLoudness([tone, silence, silence, silence, silence], 48_000);
    const surround = integratedLoudness([silence, silence, silence, tone, silence], 48_000);
    expect(surround - front).toBeCloseTo(10 * Math.log10(1.41), 3);
    const fourth = integratedLoudness([silence, silence, silence, tone], 48_000);
    expect(fourth).toBeCloseTo(front, 6);
  });

  it("drops quiet passages with the relative gate (EBU Tech 3341 case 3 style)", () => {
    const quiet = sine(48_000, 10, -36, 1000);
    const loud = sine(48_000, 60, -23, 1000);
    const channel = concat(quiet, loud, quiet);
    expect(Math.abs(integratedLoudness([channel, channel], 48_000) - -23)).toBeLessThan(0.1);
  });

  it("ignores digital silence around a tone (absolute gate)", () => {
    const tone = sine(48_000, 20, -20);
    const alone = integratedLoudness(tone, 48_000);
    const padded = concat(new Float32Array(48_000 * 30), tone, new Float32Array(48_000 * 30));
    expect(Math.abs(integratedLoudness(padded, 48_000) - alone)).toBeLessThan(0.1);
  });

  it("keeps digital silence out of the relative gate's reference", () => {
    // Quiet part 15 dB under the loud one: excluded by the relative gate. Were the 60 s of silence averaged
    // into the gate's reference, the gate would drop ~7 dB, let the quiet part in and read ~3 dB lower.
    const loud = sine(48_000, 20, -17);
    const quiet = sine(48_000, 20, -32);
    const silence = new Float32Array(48_000 * 30);
    const measured = integratedLoudness(concat(silence, loud, quiet, silence), 48_000);
    expect(Math.abs(measured - integratedLoudness(loud, 48_000))).toBeLessThan(0.1);
  });

  it("returns -Infinity for a signal that is entirely below -70 LUFS but keeps one just above", () => {
    // -72 dBFS peak -> about -75 LUFS: not silent, yet every block fails the absolute gate.
    expect(integratedLoudness(sine(48_000, 3, -72), 48_000)).toBe(-Infinity);
    expect(Math.abs(integratedLoudness(sine(48_000, 3, -62), 48_000) - -65.01)).toBeLessThan(0.1);
  });

  it("returns -Infinity for silence and for input shorter than one 400 ms block", () => {
    expect(integratedLoudness(new Float32Array(48_000 * 5), 48_000)).toBe(-Infinity);
    expect(integratedLoudness(sine(48_000, 0.3, 0), 48_000)).toBe(-Infinity);
    expect(integratedLoudness(new Float32Array(0), 48_000)).toBe(-Infinity);
    // Exactly one block is enough.
    expect(Math.abs(integratedLoudness(sine(48_000, 0.4, 0), 48_000) - -3.01)).toBeLessThan(0.2);
  });

  it("rejects bad sample rates and mismatched channels with a RangeError", () => {
    const tone = sine(48_000, 1, -20);
    expect(() => integratedLoudness(tone, 0)).toThrow(RangeError);
    expect(() => integratedLoudness(tone, -48_000)).toThrow(RangeError);
    expect(() => integratedLoudness(tone, Number.NaN)).toThrow(RangeError);
    expect(() => integratedLoudness([tone, tone.subarray(1)], 48_000)).toThrow(/same length/);
    expect(() => integratedLoudness([tone, tone.subarray(1)], 48_000)).toThrow(RangeError);
    expect(() => integratedLoudness([], 48_000)).toThrow(RangeError);
  });
});

describe("normalizeLoudness", () => {
  it("applies one gain that lands on the target without touching the input", () => {
    const input = sine(48_000, 5, -27); // -30.01 LUFS
    const before = input.slice();
    const result = normalizeLoudness(input, 48_000, -27);
    expect(result.samples === input).toBe(false);
    expect(sameSamples(input, before)).toBe(true);
    expect(result.limited).toBe(false);
    expect(result.gainDb).toBeCloseTo(3.01, 1);
    expect(Math.abs(integratedLoudness(result.samples, 48_000) - -27)).toBeLessThan(0.1);
    expect(result.loudnessLufs).toBe(integratedLoudness(result.samples, 48_000));
    expect(result.samples[1000]).toBeCloseTo((input[1000] ?? Number.NaN) * 10 ** (result.gainDb / 20), 6);
  });

  it("lowers the gain to keep the peak under the ceiling and reports it as limited", () => {
    // A -12 dBFS tone (-15 LUFS) with sparse 0.9 clicks: +12 dB would push the clicks far past full scale.
    const input = sine(48_000, 5, -12);
    for (let i = 4800; i < input.length; i += 48_000) input[i] = 0.9;
    const result = normalizeLoudness(input, 48_000, -3);
    expect(result.limited).toBe(true);
    expect(peakOf(result.samples)).toBeLessThanOrEqual(0.999);
    expect(peakOf(result.samples)).toBeGreaterThan(0.998);
    expect(result.gainDb).toBeCloseTo(20 * Math.log10(0.999 / 0.9), 3);
    expect(result.loudnessLufs).toBeLessThan(-3 - 5);

    const custom = normalizeLoudness(input, 48_000, -3, { peakCeiling: 0.5 });
    expect(custom.limited).toBe(true);
    expect(peakOf(custom.samples)).toBeLessThanOrEqual(0.5);
    expect(peakOf(custom.samples)).toBeGreaterThan(0.4999);
  });

  it("keeps the peak at or under the ceiling even when float32 rounding is borderline", () => {
    // A 0 dBFS sine is -3.01 LUFS; -3 asks for +0.01 dB, so peak ~1.001 > 0.999.
    const result = normalizeLoudness(sine(48_000, 2, 0), 48_000, -3);
    expect(result.limited).toBe(true);
    expect(peakOf(result.samples)).toBeLessThanOrEqual(0.999);
  });

  it("returns silence as an unscaled copy measuring -Infinity", () => {
    const input = new Float32Array(48_000);
    const result = normalizeLoudness(input, 48_000, -23);
    const { loudnessLufs, gainDb, limited } = result;
    expect({ loudnessLufs, gainDb, limited }).toEqual({ loudnessLufs: -Infinity, gainDb: 0, limited: false });
    expect(result.samples === input).toBe(false);
    expect(sameSamples(result.samples, input)).toBe(true);
  });

  it("rejects a non-finite target and a non-positive ceiling", () => {
    const input = sine(48_000, 1, -20);
    expect(() => normalizeLoudness(input, 48_000, Number.NaN)).toThrow(RangeError);
    expect(() => normalizeLoudness(input, 48_000, -23, { peakCeiling: 0 })).toThrow(RangeError);
  });
});
