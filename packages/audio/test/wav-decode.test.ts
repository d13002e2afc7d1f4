import { describe, expect, it } from "vitest";

import { AudioError, decodeWav, wavHeader } from "../src";
import { fmtBody, int16Body, makeWav, riff, sine, type BitDepthCode } from "./signals";

function expectAudioError(run: () => unknown, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(AudioError);
  expect((caught as AudioError).code).toBe(code);
  expect((caught as AudioError).message).toMatch(message);
}

function maxError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return worst;
}

describe("decodeWav: formats", () => {
  const signal = sine(440, 0.1, 16_000, 0.8);
  const cases: [BitDepthCode, string, number][] = [
    ["8", "pcm8", 1 / 128],
    ["16", "pcm16", 1 / 32_768],
    ["24", "pcm24", 1 / 8_388_608],
    ["32", "pcm32", 1e-7],
    ["32f", "float32", 1e-7],
    ["64", "float64", 1e-7],
  ];

  it.each(cases)("reads %s-bit mono written by wavefile", (code, encoding, lsb) => {
    const decoded = decodeWav(makeWav([signal], 16_000, code));
    expect(decoded.encoding).toBe(encoding);
    expect(decoded.sampleRate).toBe(16_000);
    expect(decoded.channels).toBe(1);
    expect(decoded.samples.length).toBe(signal.length);
    expect(decoded.durationSeconds).toBeCloseTo(0.1, 6);
    expect(maxError(decoded.samples, signal)).toBeLessThanOrEqual(lsb);
  });

  it("downmixes stereo by averaging the channels", () => {
    const left = sine(300, 0.05, 22_050, 0.6);
    const right = sine(300, 0.05, 22_050, 0.2);
    const decoded = decodeWav(makeWav([left, right], 22_050, "16"));
    expect(decoded.channels).toBe(2);
    const expected = left.map((l, i) => (l + (right[i] ?? 0)) / 2);
    expect(maxError(decoded.samples, expected)).toBeLessThanOrEqual(2 / 32_768);
  });

  // wavefile writes the extended fmt layout (cbSize 22, channel mask, sub-format GUID) under tag 1; real
  // recorders put WAVE_FORMAT_EXTENSIBLE (0xFFFE) there and the real format in the sub-format GUID.
  function asExtensible(bytes: Uint8Array, subFormat: number): Uint8Array {
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getUint32(16, true)).toBe(40);
    view.setUint16(20, 0xfffe, true);
    view.setUint16(44, subFormat, true);
    return bytes;
  }

  it("reads WAVE_FORMAT_EXTENSIBLE with 6 channels of 24-bit PCM", () => {
    const channels = Array.from({ length: 6 }, (_, c) => sine(200 + 100 * c, 0.05, 48_000, 0.1));
    const decoded = decodeWav(asExtensible(makeWav(channels, 48_000, "24"), 1));
    expect(decoded.channels).toBe(6);
    expect(decoded.encoding).toBe("pcm24");
    const expected = channels[0]!.map((_, i) => channels.reduce((sum, ch) => sum + (ch[i] ?? 0), 0) / 6);
    expect(maxError(decoded.samples, expected)).toBeLessThan(1e-6);
  });

  it("reads 4-channel float32 extensible", () => {
    const channels = Array.from({ length: 4 }, () => sine(1000, 0.02, 44_100, 0.5));
    const decoded = decodeWav(asExtensible(makeWav(channels, 44_100, "32f"), 3));
    expect(decoded.encoding).toBe("float32");
    expect(decoded.channels).toBe(4);
    expect(maxError(decoded.samples, channels[0]!)).toBeLessThan(1e-6);
  });
});

describe("decodeWav: chunk layouts", () => {
  const fmt = { id: "fmt ", body: fmtBody({ sampleRate: 8_000 }) };
  const data = { id: "data", body: int16Body([1000, -1000, 16384, -32768]) };
  const expected = [1000 / 32768, -1000 / 32768, 0.5, -1];

  it("skips LIST and fact chunks wherever they are", () => {
    const list = { id: "LIST", body: new TextEncoder().encode("INFOISFT\u0006\u0000\u0000\u0000Lavf58") };
    const fact = { id: "fact", body: new Uint8Array([4, 0, 0, 0]) };
    const decoded = decodeWav(riff([list, fmt, fact, data, list]));
    expect(Array.from(decoded.samples)).toEqual(expected);
  });

  it("honours the pad byte after an odd-sized chunk", () => {
    const odd = { id: "junk", body: new Uint8Array([1, 2, 3]) };
    expect(Array.from(decodeWav(riff([fmt, odd, data])).samples)).toEqual(expected);
  });

  it("accepts the data chunk before the fmt chunk and chunks after it", () => {
    const cue = { id: "cue ", body: new Uint8Array(4) };
    expect(Array.from(decodeWav(riff([data, fmt, cue])).samples)).toEqual(expected);
  });

  it("ignores a partial last frame", () => {
    const uneven = { id: "data", body: new Uint8Array([0, 64, 0, 192, 7]) };
    expect(Array.from(decodeWav(riff([fmt, uneven])).samples)).toEqual([0.5, -0.5]);
  });

  it("reads a streaming header (sizes 0xFFFFFFFF) to the end of the input", () => {
    const header = wavHeader(8_000, "pcm16");
    const bytes = new Uint8Array([...header, ...data.body]);
    const decoded = decodeWav(bytes);
    expect(Array.from(decoded.samples)).toEqual(expected);
  });

  it("accepts an ArrayBuffer and a Uint8Array view into a larger buffer", () => {
    const file = riff([fmt, data]);
    const padded = new Uint8Array(file.length + 10);
    padded.set(file, 5);
    expect(Array.from(decodeWav(padded.subarray(5, 5 + file.length)).samples)).toEqual(expected);
    expect(Array.from(decodeWav(file.slice().buffer).samples)).toEqual(expected);
  });

  it("zeroes NaN and Infinity in float files", () => {
    const body = new Uint8Array(12);
    const view = new DataView(body.buffer);
    view.setFloat32(0, Number.NaN, true);
    view.setFloat32(4, Number.POSITIVE_INFINITY, true);
    view.setFloat32(8, 0.25, true);
    const decoded = decodeWav(
      riff([
        { id: "fmt ", body: fmtBody({ tag: 3, bits: 32 }) },
        { id: "data", body },
      ]),
    );
    expect(Array.from(decoded.samples)).toEqual([0, 0, 0.25]);
  });
});

describe("decodeWav: refusals", () => {
  const fmt = { id: "fmt ", body: fmtBody({}) };
  const data = { id: "data", body: int16Body([1, 2, 3, 4]) };

  it("names an empty input", () => {
    expectAudioError(() => decodeWav(new Uint8Array(0)), "EMPTY", /empty/);
  });

  it("names input that is not WAV", () => {
    expectAudioError(
      () => decodeWav(new TextEncoder().encode("hello, this is text")),
      "NOT_WAV",
      /RIFF\/WAVE/,
    );
    const mp3 = new Uint8Array([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64]);
    expectAudioError(() => decodeWav(mp3), "NOT_WAV", /not a WAV/i);
    expectAudioError(() => decodeWav(new Uint8Array([0x52, 0x49])), "NOT_WAV", /only 2 bytes/);
    const rifx = riff([fmt, data]);
    rifx.set([0x52, 0x49, 0x46, 0x58], 0);
    expectAudioError(() => decodeWav(rifx), "UNSUPPORTED_FORMAT", /RIFX/);
  });

  it("names a file truncated in its data chunk", () => {
    const file = makeWav([sine(440, 0.1, 16_000)], 16_000, "16");
    expectAudioError(
      () => decodeWav(file.subarray(0, 1000)),
      "TRUNCATED",
      /declares 3200 bytes but only 956/,
    );
  });

  it("names a file truncated before its chunks", () => {
    const file = riff([fmt, data]);
    expectAudioError(() => decodeWav(file.subarray(0, 12)), "TRUNCATED", /ends before its format/);
    expectAudioError(() => decodeWav(file.subarray(0, 30)), "TRUNCATED", /fmt chunk declares 16 bytes/);
    expectAudioError(() => decodeWav(file.subarray(0, 36)), "TRUNCATED", /ends before its audio/);
  });

  it("refuses a lying 4 GB data size without allocating for it", () => {
    const liar = riff([fmt, { ...data, declaredSize: 0xfffffff0 }]);
    expectAudioError(() => decodeWav(liar), "TRUNCATED", /declares 4294967280 bytes but only 8/);
  });

  it("refuses absurd headers with the field named", () => {
    const bad = (fields: Parameters<typeof fmtBody>[0]) =>
      riff([{ id: "fmt ", body: fmtBody(fields) }, data]);
    expectAudioError(() => decodeWav(bad({ channels: 0, blockAlign: 2 })), "INVALID_HEADER", /0 channels/);
    expectAudioError(() => decodeWav(bad({ channels: 1000 })), "INVALID_HEADER", /1000 channels/);
    expectAudioError(() => decodeWav(bad({ sampleRate: 0 })), "INVALID_HEADER", /sample rate of 0 Hz/);
    expectAudioError(() => decodeWav(bad({ sampleRate: 4_000_000_000 })), "INVALID_HEADER", /4000000000 Hz/);
    expectAudioError(() => decodeWav(bad({ blockAlign: 7 })), "INVALID_HEADER", /block size \(7 bytes\)/);
    expectAudioError(() => decodeWav(bad({ bits: 12, blockAlign: 2 })), "UNSUPPORTED_FORMAT", /12-bit PCM/);
    expectAudioError(
      () => decodeWav(bad({ tag: 2, bits: 4, blockAlign: 256 })),
      "UNSUPPORTED_FORMAT",
      /ADPCM/,
    );
    expectAudioError(() => decodeWav(bad({ tag: 0x55 })), "UNSUPPORTED_FORMAT", /MP3 WAV/);
    const shortExtensible = riff([{ id: "fmt ", body: fmtBody({ tag: 0xfffe }) }, data]);
    expectAudioError(() => decodeWav(shortExtensible), "INVALID_HEADER", /EXTENSIBLE header is incomplete/);
    const tiny = riff([{ id: "fmt ", body: new Uint8Array(8) }, data]);
    expectAudioError(() => decodeWav(tiny), "INVALID_HEADER", /too small \(8 bytes\)/);
  });

  it("names files without audio", () => {
    expectAudioError(
      () => decodeWav(riff([fmt, { id: "data", body: new Uint8Array(0) }])),
      "NO_AUDIO",
      /no audio/,
    );
    expectAudioError(() => decodeWav(riff([data])), "INVALID_HEADER", /no format/);
  });

  it("refuses audio longer than the limit before decoding it", () => {
    const file = makeWav([sine(440, 2, 8_000)], 8_000, "16");
    expectAudioError(
      () => decodeWav(file, { maxDurationSeconds: 1 }),
      "TOO_LONG",
      /2\.0 s long; at most 1 s/,
    );
  });
});
