import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { createTimeStretcher, timeStretch, type TimeStretcher } from "../src";
import { concat, noise, rms, sine, speechLike } from "./signals";

/** Frequency from rising zero crossings over the middle of the signal. */
function frequency(samples: Float32Array, sampleRate: number): number {
  const from = Math.floor(samples.length * 0.1);
  const to = Math.floor(samples.length * 0.9);
  let crossings = 0;
  for (let i = from + 1; i < to; i++) if ((samples[i - 1] ?? 0) < 0 && (samples[i] ?? 0) >= 0) crossings++;
  return (crossings * sampleRate) / (to - from);
}

describe("timeStretch (WSOLA)", () => {
  const rate = 24_000;
  const tone = sine(440, 2, rate, 0.5);

  it.each([0.5, 0.8, 1.25, 1.5, 2])("speed %s changes the duration, not the pitch or the level", (speed) => {
    const stretched = timeStretch(tone, rate, speed);
    expect(stretched.length).toBe(Math.round(tone.length / speed));
    expect(frequency(stretched, rate)).toBeGreaterThan(440 * 0.98);
    expect(frequency(stretched, rate)).toBeLessThan(440 * 1.02);
    const middle = (s: Float32Array) => rms(s, Math.floor(s.length * 0.1), Math.floor(s.length * 0.9));
    expect(20 * Math.log10(middle(stretched) / middle(tone))).toBeGreaterThan(-1.5);
    expect(20 * Math.log10(middle(stretched) / middle(tone))).toBeLessThan(1.5);
  });

  it("keeps speed 1 as an exact copy and refuses speeds outside 0.25..4", () => {
    const same = timeStretch(tone, rate, 1);
    expect(same).toEqual(tone);
    expect(same).not.toBe(tone);
    for (const bad of [0, 0.2, 4.5, Number.NaN])
      expect(() => timeStretch(tone, rate, bad)).toThrow(/between 0.25 and 4/);
    expect(timeStretch(new Float32Array(0), rate, 2)).toHaveLength(0);
  });
});

/** Feeds `input` cut at the given chunk lengths (cycled; 0 is an empty push) and collects all output. */
function streamed(stretcher: TimeStretcher, input: Float32Array, lengths: readonly number[]): Float32Array {
  const parts: Float32Array[] = [];
  for (let at = 0, k = 0; at < input.length || k < lengths.length; k++) {
    const length = lengths[k % lengths.length]!;
    parts.push(stretcher.push(input.subarray(at, at + length)));
    at += length;
  }
  parts.push(stretcher.flush());
  return concat(...parts);
}

describe("createTimeStretcher (streaming WSOLA)", () => {
  const signal = fc
    .record({
      rate: fc.constantFrom(300, 1_000, 8_000, 16_000, 24_000),
      seconds: fc.double({ min: 0, max: 0.4, noNaN: true }),
      tones: fc.array(
        fc.record({
          frequency: fc.double({ min: 20, max: 4_000, noNaN: true }),
          amplitude: fc.double({ min: 0, max: 0.5, noNaN: true }),
          phase: fc.double({ min: 0, max: 6.3, noNaN: true }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      hiss: fc.double({ min: 0, max: 0.3, noNaN: true }),
      seed: fc.integer({ min: 1, max: 2 ** 31 }),
    })
    .map(({ rate, seconds, tones, hiss, seed }) => {
      const samples = noise(Math.round(seconds * rate), hiss, seed);
      for (const { frequency, amplitude, phase } of tones) {
        const tone = sine(Math.min(frequency, rate / 2), seconds, rate, amplitude, phase);
        for (let i = 0; i < samples.length; i++) samples[i]! += tone[i] ?? 0;
      }
      return { rate, samples };
    });
  const chunkLengths = fc
    .array(fc.oneof(fc.constantFrom(0, 1), fc.nat({ max: 64 }), fc.nat({ max: 20_000 })), {
      minLength: 1,
      maxLength: 12,
    })
    .filter((lengths) => lengths.some((length) => length > 0));

  it("gives the one-shot result however the input is cut into chunks", () => {
    fc.assert(
      fc.property(
        signal,
        fc.double({ min: 0.25, max: 4, noNaN: true }),
        chunkLengths,
        ({ rate, samples }, speed, lengths) => {
          const whole = timeStretch(samples, rate, speed);
          expect(whole).toHaveLength(Math.round(samples.length / speed));
          expect(streamed(createTimeStretcher(rate, speed), samples, lengths)).toEqual(whole);
        },
      ),
    );
  });

  it.each([0.25, 0.7, 1, 1.6, 4])(
    "speed %s: one sample at a time, between empty pushes, matches",
    (speed) => {
      const rate = 8_000;
      const clip = speechLike(0.3, rate);
      expect(streamed(createTimeStretcher(rate, speed), clip, [1, 0])).toEqual(
        timeStretch(clip, rate, speed),
      );
    },
  );

  it.each([0.25, 0.5, 1.25, 2, 4])("speed %s: each push returns all but a bounded tail promptly", (speed) => {
    const rate = 24_000;
    const stretcher = createTimeStretcher(rate, speed);
    // The documented bound: one window (30 ms) plus the tolerance (10 ms) of input, up to 3/4 hop (11.25 ms)
    // more below speed 1, in output samples; and never under a hop (15 ms) of output.
    const [window, tolerance, hop] = [0.03 * rate, 0.01 * rate, 0.015 * rate];
    const bound = Math.ceil(
      Math.max(hop, (window + tolerance + Math.max(0, 1 - speed) * hop + 1) / speed + 1),
    );
    expect(stretcher.latency).toBeLessThanOrEqual(bound);
    const clip = speechLike(1, rate);
    let pushed = 0;
    let returned = 0;
    for (const length of [1, 7, 480, 2_000, 13, 5_000, 240, 1, 9_000]) {
      returned += stretcher.push(clip.subarray(pushed, pushed + length)).length;
      pushed += length;
      expect(returned).toBeGreaterThanOrEqual(Math.round(pushed / speed) - stretcher.latency);
    }
  });

  it.each([0.5, 4])("speed %s: holds a fraction of a second of input through ten minutes", (speed) => {
    // A low rate keeps ten minutes quick: the work per frame grows with the rate squared.
    const rate = 4_000;
    const stretcher = createTimeStretcher(rate, speed);
    const second = speechLike(1, rate);
    let pushed = 0;
    let returned = 0;
    let held = 0;
    for (let k = 0; pushed < 600 * rate; k++) {
      const length = [80, 1_234, 7, 4_000, 3_000][k % 5]!;
      const start = pushed % rate;
      returned += stretcher.push(second.subarray(start, start + length)).length;
      pushed += Math.min(length, rate - start);
      held = Math.max(held, stretcher.bufferedSamples);
    }
    returned += stretcher.flush().length;
    expect(returned).toBe(Math.round(pushed / speed));
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(0.2 * rate);
  });

  it("starts a new stream after flush", () => {
    const rate = 8_000;
    const stretcher = createTimeStretcher(rate, 1.5);
    const first = speechLike(0.2, rate);
    const second = sine(300, 0.25, rate);
    streamed(stretcher, first, [777]);
    expect(stretcher.bufferedSamples).toBe(0);
    expect(streamed(stretcher, second, [500])).toEqual(timeStretch(second, rate, 1.5));
  });

  it("copies at speed 1 and refuses speeds outside 0.25..4", () => {
    const stretcher = createTimeStretcher(24_000, 1);
    const chunk = sine(440, 0.01, 24_000);
    const out = stretcher.push(chunk);
    expect(out).toEqual(chunk);
    expect(out).not.toBe(chunk);
    expect(stretcher.flush()).toHaveLength(0);
    expect(stretcher.latency).toBe(0);
    for (const bad of [0, 4.01, Number.POSITIVE_INFINITY, Number.NaN])
      expect(() => createTimeStretcher(24_000, bad)).toThrow(RangeError);
  });
});
