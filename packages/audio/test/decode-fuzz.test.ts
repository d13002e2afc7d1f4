import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { AudioError, decodeWav, encodeWav, wavHeader, type DecodedAudio } from "../src";
import { bytesPerSample } from "../src/wav-format";
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

/** The smallest file that can hold a sample: RIFF header (12) + fmt chunk (8 + 16) + data chunk header (8). */
const MIN_HEADER_BYTES = 44;

const DATA_VIEW_READS = [
  "getInt8",
  "getUint8",
  "getInt16",
  "getUint16",
  "getInt32",
  "getUint32",
  "getFloat32",
  "getFloat64",
] as const;

/**
 * Runs `decode` with every DataView read counted, throwing once they exceed `budget`: a decoder that loops
 * (a chunk walk that stops advancing) fails here at once instead of hanging the run, on any machine.
 */
function withReadBudget<T>(budget: number, decode: () => T): T {
  const originals = DATA_VIEW_READS.map(
    (name) => [name, Object.getOwnPropertyDescriptor(DataView.prototype, name)!] as const,
  );
  let reads = 0;
  for (const [name, descriptor] of originals) {
    const read = descriptor.value as (this: DataView, offset: number, littleEndian?: boolean) => number;
    Object.defineProperty(DataView.prototype, name, {
      ...descriptor,
      value(this: DataView, offset: number, littleEndian?: boolean) {
        if (++reads > budget) throw new Error(`read budget of ${budget} values exceeded`);
        return read.call(this, offset, littleEndian);
      },
    });
  }
  try {
    return decode();
  } finally {
    for (const [name, descriptor] of originals) Object.defineProperty(DataView.prototype, name, descriptor);
  }
}

/**
 * Decodes under bounds derived from the input alone, instead of a wall-clock limit that flakes on a loaded
 * machine: at most two reads per input byte (linear work, no hang), ArrayBuffer memory growing by
 * at most one float32 per input byte, and every output frame backed by a whole frame of bytes in the file.
 */
function boundedDecode(bytes: Uint8Array): DecodedAudio {
  const before = process.memoryUsage().arrayBuffers;
  let audio: DecodedAudio | undefined;
  try {
    audio = withReadBudget(2 * bytes.length + 64, () => decodeWav(bytes));
    return audio;
  } finally {
    // Typed arrays up to 64 bytes live on the V8 heap and are not counted; a GC mid-call only lowers this.
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown, `ArrayBuffer growth decoding ${bytes.length} bytes`).toBeLessThanOrEqual(
      4 * bytes.length + 64,
    );
    if (audio) {
      const frameBytes = audio.channels * bytesPerSample(audio.encoding);
      expect(audio.samples.length * frameBytes).toBeLessThanOrEqual(bytes.length - MIN_HEADER_BYTES);
    }
  }
}

function refusal(bytes: Uint8Array): AudioError {
  try {
    boundedDecode(bytes);
  } catch (error) {
    if (error instanceof AudioError) return error;
    throw error;
  }
  throw new Error("expected an AudioError");
}

/** A header with a 16-bit mono fmt chunk at `rate` Hz, then `chunks` (id, declared size, body). */
function hostile(rate: number, chunks: [string, number, number][]): Uint8Array {
  const size = 36 + chunks.reduce((sum, [, , body]) => sum + 8 + body, 0);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  const ascii = (text: string) => {
    for (const c of text) bytes[at++] = c.charCodeAt(0);
  };
  ascii("RIFF");
  view.setUint32(at, size - 8, true);
  at += 4;
  ascii("WAVEfmt ");
  view.setUint32(at, 16, true);
  view.setUint16(at + 4, 1, true);
  view.setUint16(at + 6, 1, true);
  view.setUint32(at + 8, rate, true);
  view.setUint32(at + 12, rate * 2, true);
  view.setUint16(at + 16, 2, true);
  view.setUint16(at + 18, 16, true);
  at += 20;
  for (const [id, declared, body] of chunks) {
    ascii(id);
    view.setUint32(at, declared, true);
    at += 4 + body;
  }
  return bytes;
}

describe("decodeWav under fuzzing", () => {
  it("ends every one of 10,000 mutated or random inputs in audio or an AudioError, within bounds set by its size", () => {
    let decoded = 0;
    let refused = 0;
    fc.assert(
      fc.property(input, (bytes) => {
        try {
          const audio = boundedDecode(bytes);
          expect(audio.samples.length).toBeGreaterThan(0);
          expect(audio.samples.every(Number.isFinite)).toBe(true);
          decoded++;
        } catch (error) {
          if (!(error instanceof AudioError)) throw error;
          expect(error.message.length).toBeGreaterThan(10);
          refused++;
        }
      }),
      { numRuns: 10_000 },
    );
    // Both outcomes must be exercised, or the fuzzer is not reaching the decoder's interesting paths.
    expect(decoded).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(500);
    console.log(`fuzz: ${decoded} decoded, ${refused} refused`);
  });

  it("keeps hostile headers the mutations rarely produce within the same bounds", () => {
    // 4 GiB declared on 100 bytes: refused from what is present, nothing sized from the claim.
    expect(refusal(hostile(24_000, [["data", 0xfffffffe, 100]])).code).toBe("TRUNCATED");
    // The streaming size reads what is there, not 4 GiB.
    expect(boundedDecode(hostile(24_000, [["data", 0xffffffff, 100]])).samples).toHaveLength(50);
    // 100,000 empty chunks before any data: the walk stays linear in the file.
    const empty = Array.from({ length: 100_000 }, (): [string, number, number] => ["junk", 0, 0]);
    expect(refusal(hostile(24_000, empty)).code).toBe("TRUNCATED");
    // A rate far below speech would need huge resampling ratios later: refused here, before any sample.
    expect(refusal(hostile(1, [["data", 100, 100]])).message).toMatch(/sample rate of 1 Hz/);
  });
});
