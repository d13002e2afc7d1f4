import { afterAll, describe, expect, it } from "vitest";

import { AudioError, concatBytes, encodeWav, prepareReferenceClip } from "@tts/audio";

import { AudioEncoders, type PreparedClip } from "../src/services/audio-encoders";
import { AudioOutput } from "../src/services/audio-output";
import { AudioStitcher } from "../src/services/audio-stitcher";
import type { AudioMeta, ObjectWriter, StoredObject } from "../src/storage/storage";

const encoders = new AudioEncoders();
afterAll(() => encoders.close());

const tone = (length: number, phase: number) =>
  Float32Array.from({ length }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 220 * (i + phase)) / 24_000));

/** Two text chunks of audio in uneven pieces, with a pause between them. */
const script = [
  { write: tone(5000, 0) },
  { write: tone(777, 5000) },
  { endChunk: 250 },
  { write: tone(12_000, 0) },
  { endChunk: 0 },
] as const;

describe("the audio encoder thread", () => {
  it.each([
    ["wav", 1],
    ["mp3", 1],
    ["pcm", 1.5],
  ] as const)(
    "streams %s at speed %s byte for byte as the stitcher does in this thread",
    async (format, speed) => {
      const local = new AudioStitcher(format, speed);
      const expected = concatBytes([
        ...script.map((step) =>
          "write" in step ? local.write(step.write.slice()) : local.endChunk(step.endChunk),
        ),
        local.finish(),
      ]);
      const received: Uint8Array[] = [];
      let samples = 0;
      const session = encoders.open(format, speed, {
        bytes: (bytes, total) => {
          received.push(bytes);
          samples = total;
        },
        failed: (error) => {
          throw error;
        },
      });
      for (const step of script) {
        if ("write" in step) session.write(step.write.slice());
        else session.endChunk(step.endChunk);
      }
      await session.finish();
      expect(concatBytes(received)).toEqual(expected);
      expect(samples).toBe(local.samples);
      // 5777 + 12000 samples and a 250 ms pause, stretched by `speed`.
      expect(samples).toBeCloseTo((5777 + 6000 + 12_000) / speed, -1);
    },
  );
});

/** A voice-like tone at 44.1 kHz with a second of silence before it: decoding, trimming and resampling all work. */
function upload(seconds: number, level = 0.2): Uint8Array {
  const rate = 44_100;
  const samples = new Float32Array(rate * (seconds + 1));
  for (let i = rate; i < samples.length; i++) {
    const t = i / rate;
    samples[i] = level * (0.5 + 0.5 * Math.sin(2 * Math.PI * 3.3 * t)) * Math.sin(2 * Math.PI * 150 * t);
  }
  return encodeWav(samples, rate);
}

/** What the synchronous function throws, to compare with what comes back from the thread. */
function refusal(bytes: Uint8Array): AudioError {
  try {
    prepareReferenceClip(bytes);
  } catch (error) {
    if (error instanceof AudioError) return error;
    throw error;
  }
  throw new Error("expected an AudioError");
}

/** Bytes kept in memory: enough of a storage writer for AudioOutput. */
function memoryWriter(): ObjectWriter<AudioMeta> {
  const parts: Uint8Array[] = [];
  return {
    get size() {
      return parts.reduce((n, part) => n + part.length, 0);
    },
    append: (data) => Promise.resolve(void parts.push(data)),
    read: (start, end) => Promise.resolve(concatBytes(parts).slice(start, end)),
    commit: (meta) => Promise.resolve({ meta } as StoredObject<AudioMeta>),
    abort: () => Promise.resolve(void (parts.length = 0)),
  };
}

/**
 * CPU time this thread spends while `work` runs, in ms: what it would cost the event loop. Unlike wall-clock stalls,
 * it does not grow when other processes compete for the cores.
 */
async function threadCpuMs(work: () => Promise<unknown>): Promise<number> {
  const before = process.threadCpuUsage();
  await work();
  const { user, system } = process.threadCpuUsage(before);
  return (user + system) / 1000;
}

describe("a job's audio output", () => {
  it("time-stretches and encodes in the encoder thread, costing this thread next to no CPU", async () => {
    // 30 s in one write: about a second of stretching and MP3 encoding, were it done on this thread.
    const samples = tone(30 * 24_000, 0);
    const output = new AudioOutput(encoders, memoryWriter(), "mp3", 1.5);
    await encoders.warmUp();
    const cpu = await threadCpuMs(async () => {
      output.write(samples);
      output.endChunk(0);
      await output.commit({} as Omit<AudioMeta, "durationSeconds">);
    });
    expect(output.samples).toBeCloseTo((30 * 24_000) / 1.5, -3);
    expect(cpu).toBeLessThan(50);
  });
});

describe("voice clip preparation on the encoder thread", () => {
  it("gives exactly what the synchronous function gives, off this thread, taking over the upload's buffer", async () => {
    // 45 s: several hundred ms of decoding and resampling, were it done on this thread.
    const bytes = upload(45);
    const expected = prepareReferenceClip(bytes.slice());
    let clip: PreparedClip | undefined;
    const cpu = await threadCpuMs(async () => (clip = await encoders.prepareReferenceClip(bytes)));
    expect(clip).toEqual(expected);
    expect(clip!.samples).toBeInstanceOf(Float32Array);
    expect(clip!.trimmed.leadingSeconds).toBeCloseTo(1, 1);
    expect(cpu).toBeLessThan(50);
    // Handed over, not copied: the caller's view is detached.
    expect(bytes.byteLength).toBe(0);
  });

  it("copies a view of a larger buffer instead of detaching it", async () => {
    const bytes = upload(6);
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes, 8);
    const clip = await encoders.prepareReferenceClip(padded.subarray(8));
    expect(clip.samples).toEqual(prepareReferenceClip(bytes).samples);
    expect(padded.byteLength).toBe(bytes.length + 8);
  });

  it.each([
    ["NOT_WAV", () => new TextEncoder().encode("not audio at all")],
    ["SILENT", () => upload(6, 0)],
    ["TOO_SHORT", () => upload(2)],
  ] as const)(
    "refuses a bad upload with an AudioError %s, as the synchronous function does",
    async (code, make) => {
      const expected = refusal(make());
      expect(expected.code).toBe(code);
      const error = await encoders.prepareReferenceClip(make()).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AudioError);
      expect(error).toMatchObject({ code, message: expected.message, name: "AudioError" });
    },
  );

  it("keeps encoding streams while clips are prepared between their requests", async () => {
    const received: Uint8Array[] = [];
    const session = encoders.open("wav", 1, { bytes: (bytes) => received.push(bytes), failed: () => {} });
    session.write(tone(2400, 0));
    const [clip] = await Promise.all([encoders.prepareReferenceClip(upload(6)), session.finish()]);
    expect(clip.durationSeconds).toBeCloseTo(6, 1);
    expect(concatBytes(received).length).toBe(44 + 2400 * 2);
  });
});
