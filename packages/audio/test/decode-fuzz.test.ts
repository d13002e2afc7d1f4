import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { AudioError, decodeWav, encodeWav, wavHeader } from "../src";
import { makeWav, sine } from "./signals";

/** Valid files of every layout the decoder knows, to mutate from. */
const seeds: Uint8Array[] = [
  encodeWav(sine(440, 0.05, 24_000), 24_000, "pcm16"),
  encodeWav(sine(440, 0.05, 24_000), 24_000, "float32"),
  makeWav([sine(300, 0.02, 8_000)], 8_000, "8"),
  makeWav([sine(300, 0.02, 48_000), sine(500, 0.02, 48_000)], 48_000, "24"),
  makeWav([sine(300, 0.02, 44_100)], 44_100, "32"),
  makeWav([sine(300, 0.02, 16_000)], 16_000, "64"),
  makeWav(
    Array.from({ length: 6 }, () => sine(300, 0.01, 48_000)),
    48_000,
    "24",
  ),
  new Uint8Array([...wavHeader(24_000, "pcm16"), ...new Uint8Array(400)]),
];

type Mutation =
  | { kind: "flip"; at: number; value: number }
  | { kind: "word"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  // Header fields (sizes, channels, rates, block sizes) sit in the first ~80 bytes: hit them with whole words.
  fc.record({
    kind: fc.constant("word" as const),
    at: fc.nat({ max: 80 }),
    value: fc.nat({ max: 0xffffffff }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat({ max: 80 }),
    bytes: fc.uint8Array({ maxLength: 24 }),
  }),
);

function mutate(seed: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes = seed.slice();
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    if (m.kind === "flip") bytes[at] = m.value;
    else if (m.kind === "truncate") bytes = bytes.slice(0, at);
    else if (m.kind === "insert")
      bytes = new Uint8Array([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
    else if (at + 4 <= bytes.length) new DataView(bytes.buffer).setUint32(at, m.value, true);
  }
  return bytes;
}

const input: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }))
      .map(([seed, mutations]) => mutate(seed, mutations)),
  },
);

describe("decodeWav under fuzzing", () => {
  it("ends every one of 10,000 mutated or random inputs in audio or an AudioError, each within 100 ms", () => {
    let decoded = 0;
    let refused = 0;
    let slowest = 0;
    fc.assert(
      fc.property(input, (bytes) => {
        const started = performance.now();
        try {
          const audio = decodeWav(bytes);
          expect(audio.samples.length).toBeGreaterThan(0);
          expect(audio.samples.length).toBeLessThanOrEqual(bytes.length);
          expect(audio.samples.every(Number.isFinite)).toBe(true);
          decoded++;
        } catch (error) {
          if (!(error instanceof AudioError)) throw error;
          expect(error.message.length).toBeGreaterThan(10);
          refused++;
        }
        const elapsed = performance.now() - started;
        slowest = Math.max(slowest, elapsed);
        expect(elapsed).toBeLessThan(100);
      }),
      { numRuns: 10_000 },
    );
    // Both outcomes must be exercised, or the fuzzer is not reaching the decoder's interesting paths.
    expect(decoded).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(500);
    console.log(`fuzz: ${decoded} decoded, ${refused} refused, slowest ${slowest.toFixed(2)} ms`);
  });
});
