import { describe, expect, it } from "vitest";

import { timeStretch } from "../src";
import { rms, sine } from "./signals";

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
