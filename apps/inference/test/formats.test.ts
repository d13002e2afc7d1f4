import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { concatBytes } from "@tts/audio";
import { launchChromium } from "@tts/vitest-config/chromium";

import { AudioEncoders } from "../src/services/audio-encoders";
import { AudioStitcher } from "../src/services/audio-stitcher";
import { detectFormats } from "../src/services/ffmpeg";
import { startTestNode, type TestNode } from "./support/node";

/** Enough for a tiny bundle's synthesis to last far longer than a node's time to first audio. */
const TOKENS = 1000;
/** Turbo: the generated tokens plus three silence tokens, 40 ms each. */
const EXPECTED_SECONDS = (TOKENS + 3) * 0.04;

let t: TestNode;
let bare: TestNode;
const encoders = new AudioEncoders();

beforeAll(async () => {
  [t, bare] = await Promise.all([
    startTestNode({}, { variant: "turbo", stopAfter: null }),
    startTestNode({ ffmpegPath: "/nonexistent/ffmpeg" }),
  ]);
});

afterAll(async () => {
  await Promise.all([t?.stop(), bare?.stop(), encoders.close()]);
});

interface Timed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  /** Milliseconds from sending the request to its first body bytes, and to its end. */
  firstByteMs: number;
  totalMs: number;
}

function post(url: string, body: unknown): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      `${url}/v1/audio/speech`,
      { method: "POST", headers: { "Content-Type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        let firstByteMs = Number.NaN;
        res.on("data", (chunk: Buffer) => {
          if (chunks.length === 0) firstByteMs = performance.now() - started;
          chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: new Uint8Array(Buffer.concat(chunks)),
            firstByteMs,
            totalMs: performance.now() - started,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** What ffprobe and ffmpeg read from a stream: its codec, the rate it decodes at, and every sample decoded. */
function decode(bytes: Uint8Array): { codec: string; sampleRate: number; samples: Int16Array } {
  // Counting packets makes ffprobe read the whole stream, not stop at the header.
  const probe = spawnSync(
    "ffprobe",
    ["-v", "error", "-count_packets", "-show_entries", "stream=codec_name,sample_rate", "-of", "json", "-"],
    { input: bytes },
  );
  if (probe.status !== 0) throw new Error(`ffprobe failed: ${probe.stderr.toString()}`);
  const { streams } = JSON.parse(probe.stdout.toString()) as {
    streams: { codec_name: string; sample_rate: string }[];
  };
  const pcm = spawnSync("ffmpeg", ["-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "pipe:1"], {
    input: bytes,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (pcm.status !== 0) throw new Error(`ffmpeg failed: ${pcm.stderr.toString()}`);
  const samples = new Int16Array(pcm.stdout.buffer, pcm.stdout.byteOffset, pcm.stdout.length / 2);
  return { codec: streams[0]!.codec_name, sampleRate: Number(streams[0]!.sample_rate), samples };
}

const FORMATS = [
  { format: "opus", contentType: "audio/ogg; codecs=opus", codec: "opus", sampleRate: 48_000, priming: 0 },
  // ADTS cannot say that the first 1024 decoded samples are the encoder's delay: decoders play them.
  { format: "aac", contentType: "audio/aac", codec: "aac", sampleRate: 24_000, priming: 1024 },
  { format: "flac", contentType: "audio/flac", codec: "flac", sampleRate: 24_000, priming: 0 },
] as const;

const tone = (seconds: number) =>
  Float32Array.from({ length: seconds * 24_000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 220 * i) / 24_000));

/** An executable shell script standing in for ffmpeg. */
function fakeFfmpeg(script: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "fake-ffmpeg-")), "ffmpeg");
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A whole stream of `seconds` of tone, through the encoder thread. */
async function encode(format: (typeof FORMATS)[number]["format"], seconds: number): Promise<Uint8Array> {
  const received: Uint8Array[] = [];
  const session = encoders.open(format, 1, { bytes: (bytes) => received.push(bytes), failed: () => {} });
  session.write(tone(seconds));
  await session.finish();
  return concatBytes(received);
}

describe("opus, aac and flac through ffmpeg on /v1/audio/speech", () => {
  it.each(FORMATS)(
    "$format: streamed while generated, decodable to the expected duration, stored as streamed",
    async ({ format, contentType, codec, sampleRate, priming }) => {
      const res = await post(t.url, {
        model: "tts-1",
        input: "Every format, streamed as it is encoded.",
        response_format: format,
        maxTokens: TOKENS,
        seed: 3,
      });
      expect(res.status, Buffer.from(res.body).toString()).toBe(200);
      expect(res.headers["content-type"]).toBe(contentType);
      expect(res.headers["transfer-encoding"]).toBe("chunked");
      expect(res.firstByteMs).toBeLessThan(res.totalMs / 3);

      const decoded = decode(res.body);
      expect(decoded.codec).toBe(codec);
      expect(decoded.sampleRate).toBe(sampleRate);
      // The encoder may pad the last frame; nothing more.
      const seconds = (decoded.samples.length - priming) / sampleRate;
      expect(Math.abs(seconds - EXPECTED_SECONDS)).toBeLessThan(0.06);

      const id = String(res.headers["x-audio-id"]);
      await expect.poll(async () => (await t.client().tts.get.query({ id })).status).toBe("done");
      const job = await t.client().tts.get.query({ id });
      expect(job.audio?.contentType).toBe(contentType);
      // What went into the encoder, before any delay or padding it adds.
      expect(job.audio?.durationSeconds).toBeCloseTo(EXPECTED_SECONDS, 6);
      const stored = await fetch(`${t.url}/v1/audio/${id}`);
      expect(stored.headers.get("content-type")).toBe(contentType);
      expect(Buffer.compare(new Uint8Array(await stored.arrayBuffer()), res.body)).toBe(0);
    },
  );
});

describe("a node without ffmpeg", () => {
  it("answers 501 naming what is missing, and its health lists only the formats it can make", async () => {
    const res = await fetch(`${bare.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tts-1", input: "Hello.", response_format: "opus" }),
    });
    expect(res.status).toBe(501);
    expect(await res.json()).toMatchObject({
      error: {
        code: "NOT_IMPLEMENTED",
        message:
          "Format opus needs ffmpeg with libopus on the inference node (not found at /nonexistent/ffmpeg); " +
          "install Debian's ffmpeg, or set FFMPEG_PATH.",
      },
    });
    const error = await bare
      .client()
      .tts.synthesize.mutate({ text: "Hello.", format: "flac" })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).data).toMatchObject({
      code: "NOT_IMPLEMENTED",
      httpStatus: 501,
    });
    expect((await bare.client().health.query()).audioFormats).toEqual(["mp3", "wav", "pcm"]);
    expect((await t.client().health.query()).audioFormats).toEqual([
      "mp3",
      "opus",
      "aac",
      "flac",
      "wav",
      "pcm",
    ]);
  });

  it("names the encoder an ffmpeg lacks", async () => {
    const ffmpeg = fakeFfmpeg(
      String.raw`printf ' A..... = Audio\n ------\n A....D flac  FLAC\n A..... aac   AAC\n'`,
    );
    expect(await detectFormats(ffmpeg)).toEqual({
      ffmpeg,
      available: ["mp3", "aac", "flac", "wav", "pcm"],
      missing: {
        opus:
          `Format opus needs ffmpeg with libopus on the inference node (${ffmpeg} has no libopus encoder); ` +
          "install Debian's ffmpeg, or set FFMPEG_PATH.",
      },
    });
  });
});

/** The browser globals the page script below uses (this project's types have no DOM). */
interface PageGlobals {
  OfflineAudioContext: new (
    channels: number,
    length: number,
    rate: number,
  ) => { decodeAudioData(data: ArrayBuffer): Promise<{ duration: number }> };
  document: { createElement(tag: "audio"): { canPlayType(type: string): string } };
}

describe("Chromium", () => {
  it("decodes each, and says it can play its Content-Type", async () => {
    const browser = await launchChromium();
    try {
      for (const { format, contentType, priming } of FORMATS) {
        const page = await browser.newPage();
        const { seconds, canPlay } = await page.evaluate(
          async ({ data, type }) => {
            const { OfflineAudioContext, document } = globalThis as unknown as PageGlobals;
            const audio = await new OfflineAudioContext(1, 1, 24_000).decodeAudioData(
              Uint8Array.from(data).buffer,
            );
            return { seconds: audio.duration, canPlay: document.createElement("audio").canPlayType(type) };
          },
          { data: Array.from(await encode(format, 1.5)), type: contentType },
        );
        await page.close();
        expect(canPlay, format).toBe("probably");
        expect(Math.abs(seconds - priming / 24_000 - 1.5), format).toBeLessThan(0.06);
      }
    } finally {
      await browser.close();
    }
  });
});

describe("an ffmpeg session on the encoder thread", () => {
  it.each(FORMATS)("$format: sends bytes before its input ends", { timeout: 10_000 }, async ({ format }) => {
    let first: (() => void) | undefined;
    const received = new Promise<void>((resolve) => (first = resolve));
    const session = encoders.open(format, 1, { bytes: () => first?.(), failed: () => {} });
    // Half a second: what the engine's first chunk holds.
    session.write(tone(0.5));
    await received;
    await session.finish();
  });

  it("loses nothing when the PCM comes faster than ffmpeg takes it (FLAC is lossless)", async () => {
    const pieces = Array.from({ length: 40 }, () => tone(1));
    const local = new AudioStitcher("pcm", 1);
    const expected = concatBytes([...pieces.map((piece) => local.write(piece.slice())), local.finish()]);
    const received: Uint8Array[] = [];
    let samples = 0;
    const session = encoders.open("flac", 1, {
      bytes: (bytes, total) => {
        received.push(bytes);
        samples = total;
      },
      failed: () => {},
    });
    for (const piece of pieces) session.write(piece);
    await session.finish();
    expect(samples).toBe(40 * 24_000);
    const decoded = decode(concatBytes(received)).samples;
    expect(
      Buffer.compare(new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength), expected),
    ).toBe(0);
  });

  it("fails the session with ffmpeg's last words when it exits non-zero, or cannot start", async () => {
    for (const [command, message] of [
      [
        fakeFfmpeg("echo 'Unknown encoder: pretend' >&2; exit 1"),
        /ffmpeg \(aac\) exited with code 1: Unknown encoder: pretend/,
      ],
      ["/nonexistent/ffmpeg", /ffmpeg could not run: spawn \/nonexistent\/ffmpeg ENOENT/],
    ] as const) {
      const failing = new AudioEncoders(command);
      const failures: Error[] = [];
      const session = failing.open("aac", 1, { bytes: () => {}, failed: (error) => failures.push(error) });
      session.write(tone(0.2));
      await expect.poll(() => failures.length).toBe(1);
      // Asked for after the failure, `finish` still settles.
      await expect(session.finish()).rejects.toThrow(message);
      expect(failures[0]!.message).toMatch(message);
      await failing.close();
    }
  });
});
