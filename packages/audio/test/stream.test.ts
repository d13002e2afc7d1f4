import { describe, expect, it } from "vitest";

import { concatBytes, createStreamEncoder, decodeWav } from "../src";
import { sine } from "./signals";

describe("createStreamEncoder", () => {
  const signal = sine(440, 0.5, 24_000);
  const chunks = [signal.subarray(0, 1000), signal.subarray(1000, 1001), signal.subarray(1001)];

  it("wav: a header of unknown length, then whole 16-bit samples per chunk; the result decodes", () => {
    const encoder = createStreamEncoder("wav", { sampleRate: 24_000 });
    expect(encoder.contentType).toBe("audio/wav");
    const parts = [encoder.start(), ...chunks.map((c) => encoder.encode(c)), encoder.finish()];
    expect(parts[0]!.length).toBe(44);
    expect(parts.slice(1, -1).map((p) => p.length)).toEqual([2000, 2, (signal.length - 1001) * 2]);
    const decoded = decodeWav(concatBytes(parts));
    expect(decoded.samples.length).toBe(signal.length);
    expect(decoded.sampleRate).toBe(24_000);
  });

  it("pcm: raw s16le with nothing before or after", () => {
    const encoder = createStreamEncoder("pcm", { sampleRate: 24_000 });
    expect(encoder.contentType).toBe("audio/pcm");
    expect(encoder.start().length).toBe(0);
    const bytes = concatBytes(chunks.map((c) => encoder.encode(c)));
    expect(bytes.length).toBe(signal.length * 2);
    expect(encoder.finish().length).toBe(0);
  });

  it("mp3: whole frames, flushed at the end", () => {
    const encoder = createStreamEncoder("mp3", { sampleRate: 24_000, bitrateKbps: 64 });
    expect(encoder.contentType).toBe("audio/mpeg");
    const body = concatBytes([encoder.start(), ...chunks.map((c) => encoder.encode(c)), encoder.finish()]);
    expect(body[0]).toBe(0xff);
    expect(body.length).toBeGreaterThan(0.5 * 8_000 * 0.9);
  });
});
