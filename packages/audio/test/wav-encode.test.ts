import { describe, expect, it } from "vitest";

import { decodeWav, encodePcm16, encodeWav, floatToInt16, int16ToFloat, wavHeader } from "../src";
import { noise, sine } from "./signals";

describe("encodeWav", () => {
  const signal = noise(24_000, 0.99, 3);

  it("round-trips 16-bit PCM within 1 LSB", () => {
    const decoded = decodeWav(encodeWav(signal, 24_000, "pcm16"));
    expect(decoded.encoding).toBe("pcm16");
    expect(decoded.sampleRate).toBe(24_000);
    expect(decoded.samples.length).toBe(signal.length);
    let worst = 0;
    for (let i = 0; i < signal.length; i++)
      worst = Math.max(worst, Math.abs((decoded.samples[i] ?? 0) - (signal[i] ?? 0)));
    expect(worst).toBeLessThanOrEqual(1 / 32_768);
  });

  it("round-trips 32-bit float exactly", () => {
    const decoded = decodeWav(encodeWav(signal, 16_000, "float32"));
    expect(decoded.encoding).toBe("float32");
    expect(decoded.samples).toEqual(signal);
  });

  it("clips out-of-range and NaN samples instead of wrapping", () => {
    const wild = new Float32Array([1.5, -2, 1, -1, Number.NaN, 0.5]);
    expect(Array.from(floatToInt16(wild))).toEqual([32767, -32768, 32767, -32768, 0, 16384]);
    const decoded = decodeWav(encodeWav(wild, 8_000));
    expect(Array.from(decoded.samples)).toEqual([32767 / 32768, -1, 32767 / 32768, -1, 0, 0.5]);
  });

  it("writes raw s16le PCM", () => {
    const bytes = encodePcm16(new Float32Array([0.5, -0.5, 0]));
    expect(Array.from(bytes)).toEqual([0x00, 0x40, 0x00, 0xc0, 0x00, 0x00]);
    expect(Array.from(int16ToFloat(new Int16Array([16384, -32768])))).toEqual([0.5, -1]);
  });
});

describe("wavHeader", () => {
  it("matches the header wavefile writes, apart from the sizes it cannot know", () => {
    const samples = sine(440, 0.01, 24_000);
    for (const encoding of ["pcm16", "float32"] as const) {
      const file = encodeWav(samples, 24_000, encoding);
      const dataBytes = file.length - 44;
      expect(Array.from(wavHeader(24_000, encoding, dataBytes))).toEqual(Array.from(file.subarray(0, 44)));
      const streaming = new DataView(wavHeader(24_000, encoding).buffer);
      expect(streaming.getUint32(4, true)).toBe(0xffffffff);
      expect(streaming.getUint32(40, true)).toBe(0xffffffff);
    }
  });
});
