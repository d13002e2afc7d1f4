import { afterAll, describe, expect, it } from "vitest";

import { concatBytes } from "@tts/audio";

import { AudioEncoders } from "../src/services/audio-encoders";
import { AudioStitcher } from "../src/services/audio-stitcher";

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
