import { randomBytes } from "node:crypto";

/**
 * Seeded PRNG for token sampling: xoshiro128** seeded by SplitMix64. Pure 32-bit integer math (Math.imul,
 * unsigned shifts), so a seed replays the same stream on every platform and Node version; Math.random cannot.
 */
export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
}

const MASK64 = (1n << 64n) - 1n;
const TWO_POW_32 = 0x1_0000_0000;

/** One SplitMix64 step from `state`; returns the new state and its 64-bit output. */
function splitMix64(state: bigint): [bigint, bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * `seed` is any non-negative safe integer. The xoshiro state is the low then high 32-bit halves of the first two
 * SplitMix64 outputs, which are never both zero (SplitMix64's output function is a bijection).
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer (got ${seed})`);
  }
  const [state1, out1] = splitMix64(BigInt(seed));
  const [, out2] = splitMix64(state1);
  let s0 = Number(out1 & 0xffffffffn);
  let s1 = Number(out1 >> 32n);
  let s2 = Number(out2 & 0xffffffffn);
  let s3 = Number(out2 >> 32n);

  return {
    next(): number {
      const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      return result / TWO_POW_32;
    },
  };
}

/** A fresh 32-bit unsigned seed from the OS CSPRNG, for unseeded runs; report it so the run can be replayed. */
export function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
