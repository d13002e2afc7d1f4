/// <reference lib="dom" />
import { spawnSync } from "node:child_process";

import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { launchChromium } from "@tts/vitest-config/chromium";

import { concatBytes, createStreamEncoder, type StreamFormat } from "../src";
import { sine } from "./signals";

// What real players make of our streams: ffmpeg reading from a pipe (no seeking, no length) and Chromium's
// decodeAudioData. Both come from Debian packages that `npm test` installs.
const RATE = 24_000;
const signal = sine(440, 1.5, RATE, 0.5);

function stream(format: StreamFormat): Uint8Array {
  const encoder = createStreamEncoder(format, { sampleRate: RATE, bitrateKbps: 64 });
  const chunks = [0, 1000, 9000, 20_000, signal.length]
    .slice(1)
    .map((end, i, ends) => encoder.encode(signal.subarray(i === 0 ? 0 : ends[i - 1], end)));
  return concatBytes([encoder.start(), ...chunks, encoder.finish()]);
}

function ffmpegDecode(bytes: Uint8Array, inputArgs: string[] = []): Float32Array {
  const result = spawnSync(
    "ffmpeg",
    ["-v", "error", ...inputArgs, "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", String(RATE), "pipe:1"],
    { input: bytes, maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error)
    throw new Error(`ffmpeg is required for this test (Debian package ffmpeg): ${result.error.message}`);
  expect(result.stderr.toString()).toBe("");
  expect(result.status).toBe(0);
  const out = result.stdout;
  return new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4);
}

function rms(samples: Float32Array): number {
  return Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
}

describe("ffmpeg reads the streams from a pipe", () => {
  it("wav with an unknown-length header: every sample, intact", () => {
    const decoded = ffmpegDecode(stream("wav"));
    expect(decoded.length).toBe(signal.length);
    let worst = 0;
    for (let i = 0; i < signal.length; i++)
      worst = Math.max(worst, Math.abs((decoded[i] ?? 0) - (signal[i] ?? 0)));
    expect(worst).toBeLessThanOrEqual(1 / 32_768);
  });

  it("raw pcm s16le", () => {
    const decoded = ffmpegDecode(stream("pcm"), ["-f", "s16le", "-ar", String(RATE), "-ac", "1"]);
    expect(decoded.length).toBe(signal.length);
  });

  it("mp3: the whole duration at the right level", () => {
    const decoded = ffmpegDecode(stream("mp3"));
    expect(decoded.length / RATE).toBeGreaterThan(1.45);
    expect(decoded.length / RATE).toBeLessThan(1.6);
    expect(rms(decoded) / rms(signal)).toBeGreaterThan(0.9);
    expect(rms(decoded) / rms(signal)).toBeLessThan(1.1);
  });
});

describe("Chromium decodes the streams", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function decodeInBrowser(bytes: Uint8Array): Promise<{ length: number; rms: number }> {
    const page = await browser.newPage();
    try {
      return await page.evaluate(
        async ({ data, rate }) => {
          const buffer = Uint8Array.from(data).buffer;
          const audio = await new OfflineAudioContext(1, 1, rate).decodeAudioData(buffer);
          const samples = audio.getChannelData(0);
          let sum = 0;
          for (const x of samples) sum += x * x;
          return { length: samples.length, rms: Math.sqrt(sum / samples.length) };
        },
        { data: Array.from(bytes), rate: RATE },
      );
    } finally {
      await page.close();
    }
  }

  it("wav with an unknown-length header", async () => {
    const decoded = await decodeInBrowser(stream("wav"));
    expect(decoded.length).toBe(signal.length);
    expect(decoded.rms / rms(signal)).toBeCloseTo(1, 3);
  });

  it("mp3", async () => {
    const decoded = await decodeInBrowser(stream("mp3"));
    expect(decoded.length / RATE).toBeGreaterThan(1.45);
    expect(decoded.rms / rms(signal)).toBeGreaterThan(0.9);
  });
});
