import { describe, expect, it } from "vitest";

import { AudioError, encodeWav, integratedLoudness, prepareReferenceClip } from "../src";
import { concat, makeWav, noise, speechLike } from "./signals";

function refusal(run: () => unknown): AudioError {
  try {
    run();
  } catch (error) {
    if (error instanceof AudioError) return error;
    throw error;
  }
  throw new Error("expected an AudioError");
}

describe("prepareReferenceClip", () => {
  it("turns a 44.1 kHz stereo recording with silence around it into trimmed, 24 kHz, -27 LUFS mono", () => {
    const rate = 44_100;
    const speech = speechLike(8, rate, 0.2);
    const left = concat(new Float32Array(rate), speech, new Float32Array(rate * 2));
    const right = concat(
      new Float32Array(rate),
      speech.map((x) => x * 0.5),
      new Float32Array(rate * 2),
    );
    const clip = prepareReferenceClip(makeWav([left, right], rate, "16"));

    expect(clip.sampleRate).toBe(24_000);
    expect(clip.source).toEqual({ sampleRate: rate, channels: 2, durationSeconds: 11 });
    expect(clip.trimmed.leadingSeconds).toBeCloseTo(0.98, 1);
    expect(clip.trimmed.trailingSeconds).toBeCloseTo(1.98, 1);
    expect(clip.durationSeconds).toBeCloseTo(8.04, 1);
    expect(clip.samples.length).toBe(Math.round(clip.durationSeconds * 24_000));
    expect(clip.truncated).toBe(false);
    expect(clip.loudnessLufs).toBeCloseTo(-27, 1);
    expect(integratedLoudness(clip.samples, 24_000)).toBeCloseTo(-27, 1);
  });

  it("cuts long clips to maxSeconds", () => {
    const clip = prepareReferenceClip(encodeWav(speechLike(20, 16_000), 16_000), { maxSeconds: 12 });
    expect(clip.truncated).toBe(true);
    expect(clip.durationSeconds).toBe(12);
  });

  it("rejects a clip that is too short after trimming, saying how long it was", () => {
    const short = concat(new Float32Array(48_000 * 3), speechLike(3, 48_000), new Float32Array(48_000 * 3));
    const error = refusal(() => prepareReferenceClip(encodeWav(short, 48_000)));
    expect(error.code).toBe("TOO_SHORT");
    expect(error.message).toMatch(/has 3\.0 s of sound after trimming silence; at least 5 s/);
    expect(prepareReferenceClip(encodeWav(short, 48_000), { minSeconds: 2 }).durationSeconds).toBeCloseTo(
      3,
      1,
    );
  });

  it("rejects a silent clip", () => {
    const error = refusal(() => prepareReferenceClip(encodeWav(noise(24_000 * 6, 0.001), 24_000)));
    expect(error.code).toBe("SILENT");
    expect(error.message).toMatch(/silent \(peak -(59|60)\.\d dBFS\)/);
    expect(refusal(() => prepareReferenceClip(encodeWav(new Float32Array(24_000 * 6), 24_000))).code).toBe(
      "SILENT",
    );
  });

  it("rejects a clipped clip", () => {
    const hot = speechLike(6, 24_000, 3).map((x) => Math.max(-1, Math.min(1, x)));
    const error = refusal(() => prepareReferenceClip(encodeWav(hot, 24_000)));
    expect(error.code).toBe("CLIPPED");
    expect(error.message).toMatch(/\d+\.\d\d % of its samples are clipped/);
  });

  it("passes decoder refusals through and refuses over-long input before decoding it", () => {
    expect(refusal(() => prepareReferenceClip(new TextEncoder().encode("not audio at all"))).code).toBe(
      "NOT_WAV",
    );
    const long = encodeWav(new Float32Array(8_000 * 20), 8_000);
    const error = refusal(() => prepareReferenceClip(long, { maxInputSeconds: 10 }));
    expect(error.code).toBe("TOO_LONG");
  });
});
