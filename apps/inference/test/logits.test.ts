import { describe, expect, it } from "vitest";

import {
  applyCfg,
  applyRepetitionPenalty,
  applyTemperature,
  argmax,
  ENGLISH_CFG_WEIGHT,
  ENGLISH_DEFAULTS,
  ENGLISH_EXAGGERATION,
  minPFilter,
  sampleToken,
  softmax,
  topKFilter,
  topPFilter,
  TURBO_DEFAULTS,
  validateSamplingParams,
  type SamplingParams,
} from "../src/engine/logits";
import { createRng, type Rng } from "../src/engine/rng";

const NEG = -Infinity;
const row = (values: number[]) => Float32Array.from(values);
/** Natural logs of probabilities that sum to 1, so softmax(logits) gives the probabilities back. */
const logProbs = (probs: number[]) => row(probs.map(Math.log));

/** Element-wise comparison to 4 decimals; -Infinity must match exactly. */
function expectRow(actual: Float32Array, expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((e, i) => {
    const a = actual[i]!;
    if (e === NEG) expect(a, `index ${i}`).toBe(NEG);
    else expect(a, `index ${i}`).toBeCloseTo(e, 4);
  });
}

/** Every process stage off: the sample is drawn straight from softmax(logits). */
const PLAIN: SamplingParams = {
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  greedy: false,
};

/** Returns the given values in turn and counts draws. */
function fakeRng(...values: number[]): Rng & { draws: number } {
  const rng = {
    draws: 0,
    next: () => {
      const value = values[rng.draws++];
      if (value === undefined) throw new Error("unexpected extra draw");
      return value;
    },
  };
  return rng;
}

const noRng: Rng = {
  next: () => {
    throw new Error("greedy decoding must not draw");
  },
};

describe("applyRepetitionPenalty", () => {
  it("divides positive and multiplies negative logits, once per distinct generated id", () => {
    const logits = row([2, -2, 0.5, -0.5, 0, 1]);
    // 2 / 1.2 = 1.6667; -2 * 1.2 = -2.4 (id 1 appears twice but is penalized once); 0 stays 0.
    expectRow(applyRepetitionPenalty(logits, [0, 1, 1, 4], 1.2), [1.6667, -2.4, 0.5, -0.5, 0, 1]);
    expectRow(applyRepetitionPenalty(logits, [3, 3, 3], 1.2), [2, -2, 0.5, -0.6, 0, 1]);
    expectRow(applyRepetitionPenalty(logits, new Set([2, 5]), 2), [2, -2, 0.25, -0.5, 0, 0.5]);
  });

  it("leaves the caller's row untouched", () => {
    const logits = row([2, -2]);
    applyRepetitionPenalty(logits, [0, 1], 1.2);
    expectRow(logits, [2, -2]);
  });

  it("rejects ids outside the vocabulary", () => {
    const logits = row([1, 2, 3]);
    for (const id of [3, -1, 1.5]) {
      expect(() => applyRepetitionPenalty(logits, [id], 1.2)).toThrow(RangeError);
    }
    expect(() => applyRepetitionPenalty(logits, [3], 1.2)).toThrow(/generated id 3 is outside .*0\.\.2/);
  });
});

describe("applyCfg", () => {
  it("computes cond + w * (cond - uncond) with w = 0.5", () => {
    const cond = row([1, 2, -1, 0]);
    const uncond = row([0, 3, -1, 2]);
    // 1 + 0.5*1, 2 + 0.5*(-1), -1 + 0, 0 + 0.5*(-2)
    expectRow(applyCfg(cond, uncond, ENGLISH_CFG_WEIGHT), [1.5, 1.5, -1, -1]);
    expectRow(cond, [1, 2, -1, 0]);
  });

  it("rejects rows of different lengths", () => {
    expect(() => applyCfg(row([1, 2]), row([1]), 0.5)).toThrow(/cond 2, uncond 1/);
  });
});

describe("applyTemperature", () => {
  it("temperature 0.5 doubles the logits", () => {
    const logits = row([1, -2, 0.25, 3]);
    expectRow(applyTemperature(logits, 0.5), [2, -4, 0.5, 6]);
    expectRow(logits, [1, -2, 0.25, 3]);
  });
});

describe("topKFilter", () => {
  it("keeps the k largest", () => {
    const logits = row([0.1, 3, -1, 2, 0.5, 1]);
    expectRow(topKFilter(logits, 2), [NEG, 3, NEG, 2, NEG, NEG]);
    expectRow(topKFilter(logits, 1), [NEG, 3, NEG, NEG, NEG, NEG]);
    expectRow(logits, [0.1, 3, -1, 2, 0.5, 1]);
  });

  it("keeps ties with the k-th value, as HF does", () => {
    expectRow(topKFilter(row([3, 1, 1, 0]), 2), [3, 1, 1, NEG]);
  });

  it("is off at 0 and at or above the vocabulary size", () => {
    const logits = row([1, 2, 3]);
    expectRow(topKFilter(logits, 0), [1, 2, 3]);
    expectRow(topKFilter(logits, 3), [1, 2, 3]);
    expectRow(topKFilter(logits, 10), [1, 2, 3]);
  });

  it("selects the same set as a full sort on a vocabulary-sized row", () => {
    const rng = createRng(99);
    const logits = Float32Array.from({ length: 8194 }, () => rng.next() * 20 - 10);
    const threshold = [...logits].sort((a, b) => b - a)[999]!;
    const kept = topKFilter(logits, 1000);
    logits.forEach((v, i) => expect(kept[i]).toBe(v >= threshold ? v : NEG));
  });
});

describe("topPFilter", () => {
  // probabilities 0.1, 0.4, 0.2, 0.3 -> ranked ids 1 (0.4), 3 (0.3), 2 (0.2), 0 (0.1)
  const logits = logProbs([0.1, 0.4, 0.2, 0.3]);

  it("keeps the smallest top set whose cumulative probability reaches top_p", () => {
    // mass above each rank: 0, 0.4, 0.7, 0.9 -> a token is kept while that mass is < top_p
    expectRow(topPFilter(logits, 0.8), [NEG, logits[1]!, logits[2]!, logits[3]!]);
    expectRow(topPFilter(logits, 0.6), [NEG, logits[1]!, NEG, logits[3]!]);
    expectRow(topPFilter(logits, 0.95), Array.from(logits));
  });

  it("always keeps the most probable token", () => {
    expectRow(topPFilter(logits, 0.3), [NEG, logits[1]!, NEG, NEG]);
  });

  it("stops exactly when the cumulative probability equals top_p", () => {
    // four equal logits: probabilities are exactly 0.25 each; equal logits rank by lower id
    const flat = row([0, 0, 0, 0]);
    expectRow(topPFilter(flat, 0.5), [0, 0, NEG, NEG]);
    expectRow(topPFilter(flat, 0.75), [0, 0, 0, NEG]);
    expectRow(topPFilter(flat, 0.5000001), [0, 0, 0, NEG]);
    expectRow(topPFilter(flat, 0.25), [0, NEG, NEG, NEG]);
  });

  it("ignores already-filtered entries and is off at 1", () => {
    expectRow(topPFilter(row([NEG, 0, NEG, 0]), 0.5), [NEG, 0, NEG, NEG]);
    expectRow(topPFilter(logits, 1), Array.from(logits));
  });
});

describe("minPFilter", () => {
  it("drops tokens whose probability is below min_p times the top probability", () => {
    // min_p 0.1 * max 0.5 = 0.05: 0.04 and 0.045 go, 0.06 stays
    const logits = logProbs([0.5, 0.2, 0.06, 0.04, 0.155, 0.045]);
    expectRow(minPFilter(logits, 0.1), [logits[0]!, logits[1]!, logits[2]!, NEG, logits[4]!, NEG]);
  });

  it("works on unnormalized logits and keeps the top token", () => {
    // ratios to the max: e^0, e^-1 = 0.368, e^-2 = 0.135, e^-3 = 0.050, ...
    expectRow(minPFilter(row([2, 1, 0, -1, -2, -3]), 0.1), [2, 1, 0, NEG, NEG, NEG]);
    expectRow(minPFilter(row([5, -5]), 0.99), [5, NEG]);
  });

  it("is off at 0", () => {
    expectRow(minPFilter(row([10, -10]), 0), [10, -10]);
  });
});

describe("softmax and argmax", () => {
  it("softmax matches hand-computed probabilities and is numerically stable", () => {
    expectRow(softmax(row([0, Math.log(3)])), [0.25, 0.75]);
    expectRow(softmax(row([1000, 1000, NEG])), [0.5, 0.5, 0]);
    expectRow(softmax(row([-1000, -1000 + Math.log(4)])), [0.2, 0.8]);
  });

  it("argmax returns the first of equal maxima", () => {
    expect(argmax(row([1, 3, 3, 2]))).toBe(1);
    expect(argmax(row([NEG, -5, NEG]))).toBe(1);
  });

  it("both reject a row with nothing above -Infinity", () => {
    expect(() => softmax(row([NEG, NEG]))).toThrow(RangeError);
    expect(() => argmax(row([NEG]))).toThrow(RangeError);
  });
});

describe("sampleToken", () => {
  it("draws once and picks by inverse CDF in id order", () => {
    // CDF over probabilities 0.1, 0.2, 0.3, 0.4: [0, 0.1) -> 0, [0.1, 0.3) -> 1, [0.3, 0.6) -> 2, [0.6, 1) -> 3
    const logits = logProbs([0.1, 0.2, 0.3, 0.4]);
    const cases: [number, number][] = [
      [0, 0],
      [0.05, 0],
      [0.15, 1],
      [0.35, 2],
      [0.65, 3],
      [0.999, 3],
    ];
    for (const [u, token] of cases) {
      const rng = fakeRng(u);
      expect(sampleToken(logits, [], PLAIN, rng), `u = ${u}`).toBe(token);
      expect(rng.draws).toBe(1);
    }
  });

  it("runs penalty -> temperature -> top-k -> top-p before sampling", () => {
    const logits = row([2, 1, 0.5, -1, 3, 0]);
    const params = { ...PLAIN, temperature: 0.5, topK: 3, topP: 0.9, repetitionPenalty: 2 };
    // penalty on id 4: 3 / 2 = 1.5 -> [2, 1, 0.5, -1, 1.5, 0]; temperature 0.5 -> [4, 2, 1, -2, 3, 0];
    // top-3 keeps ids 0, 4, 1 with probabilities 0.665, 0.245, 0.090; mass above id 1 is 0.910 >= 0.9, so
    // top-p keeps ids 0 and 4: P(0) = 1 / (1 + e^-1) = 0.7311.
    expect(sampleToken(logits, [4], params, fakeRng(0.7))).toBe(0);
    expect(sampleToken(logits, [4], params, fakeRng(0.75))).toBe(4);
    // without the penalty id 4 leads (6 vs 4): P(0) = e^-2 / (1 + e^-2) = 0.1192
    expect(sampleToken(logits, [], params, fakeRng(0.1))).toBe(0);
    expect(sampleToken(logits, [], params, fakeRng(0.2))).toBe(4);
    expectRow(logits, [2, 1, 0.5, -1, 3, 0]);
  });

  it("applies min-p after temperature (English defaults)", () => {
    // temperature 0.8 -> [3.75, 3.125, 0, -6.25]; min-p cutoff 3.75 + ln 0.05 = 0.754 keeps ids 0 and 1;
    // P(0) = 1 / (1 + e^-0.625) = 0.6513
    const logits = row([3, 2.5, 0, -5]);
    expect(sampleToken(logits, [], ENGLISH_DEFAULTS, fakeRng(0.65))).toBe(0);
    expect(sampleToken(logits, [], ENGLISH_DEFAULTS, fakeRng(0.66))).toBe(1);
    expect(sampleToken(logits, [], ENGLISH_DEFAULTS, fakeRng(0.999))).toBe(1);
  });

  it("greedy takes the argmax after the repetition penalty and never draws", () => {
    const logits = row([1, 5, 2]);
    const greedy = { ...TURBO_DEFAULTS, greedy: true };
    expect(sampleToken(logits, [], greedy, noRng)).toBe(1);
    // 5 / 3 = 1.667 < 2
    expect(sampleToken(logits, [1], { ...greedy, repetitionPenalty: 3 }, noRng)).toBe(2);
  });

  it("matches the softmax probabilities over 20k seeded draws", () => {
    const probs = [0.1, 0.2, 0.3, 0.4];
    const logits = logProbs(probs);
    const rng = createRng(2024);
    const counts = [0, 0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, [], PLAIN, rng)]! += 1;
    counts.forEach((count, i) => expect(Math.abs(count / n - probs[i]!)).toBeLessThan(0.02));
  });

  it("replays the same tokens for the same seed on a vocabulary-sized row", () => {
    const source = createRng(5);
    const logits = Float32Array.from({ length: 6563 }, () => source.next() * 16 - 8);
    const run = (seed: number) => {
      const rng = createRng(seed);
      const generated = [6561];
      for (let i = 0; i < 50; i++) generated.push(sampleToken(logits, generated, TURBO_DEFAULTS, rng));
      return generated;
    };
    expect(run(11)).toEqual(run(11));
    expect(run(12)).not.toEqual(run(11));
  });

  it("validates params and generated ids", () => {
    expect(() => sampleToken(row([1, 2]), [], { ...PLAIN, topK: -1 }, noRng)).toThrow(/topK/);
    expect(() => sampleToken(row([1, 2]), [2], PLAIN, fakeRng(0.5))).not.toThrow(); // penalty 1 reads no ids
    expect(() => sampleToken(row([1, 2]), [2], TURBO_DEFAULTS, noRng)).toThrow(/generated id 2/);
    expect(() => sampleToken(row([NEG, NEG]), [], PLAIN, fakeRng(0.5))).toThrow(RangeError);
  });
});

describe("processor order", () => {
  // logits [3, 2.5, 1], id 0 already generated, penalty 3, top-k 1: penalizing first drops id 0 to 1.0, so top-k
  // keeps id 1; penalizing last (upstream Turbo) keeps id 0 through top-k, then lowers it to 1.0, alone.
  const params = { temperature: 1, topK: 1, topP: 1, minP: 0, repetitionPenalty: 3, greedy: false };
  const fixed = { next: () => 0.5 };

  it("penalizes before filtering by default (English)", () => {
    expect(sampleToken(row([3, 2.5, 1]), [0], params, fixed)).toBe(1);
  });

  it("penalizes after filtering with penaltyLast (Turbo)", () => {
    expect(sampleToken(row([3, 2.5, 1]), [0], { ...params, penaltyLast: true }, fixed)).toBe(0);
  });
});

describe("defaults", () => {
  it("match upstream Chatterbox", () => {
    expect(TURBO_DEFAULTS).toEqual({
      temperature: 0.8,
      topK: 1000,
      topP: 0.95,
      minP: 0,
      repetitionPenalty: 1.2,
      greedy: false,
      penaltyLast: true,
    });
    expect(ENGLISH_DEFAULTS).toEqual({
      temperature: 0.8,
      topK: 0,
      topP: 1,
      minP: 0.05,
      repetitionPenalty: 1.2,
      greedy: false,
    });
    expect(ENGLISH_CFG_WEIGHT).toBe(0.5);
    expect(ENGLISH_EXAGGERATION).toBe(0.5);
    expect(() => validateSamplingParams(TURBO_DEFAULTS)).not.toThrow();
    expect(() => validateSamplingParams(ENGLISH_DEFAULTS)).not.toThrow();
  });
});

describe("validateSamplingParams", () => {
  const bad: [Partial<SamplingParams>, RegExp][] = [
    [{ temperature: 0 }, /temperature must be a finite number > 0 \(got 0\)/],
    [{ temperature: Number.NaN }, /temperature .*got NaN/],
    [{ temperature: Infinity }, /temperature/],
    [{ topK: -1 }, /topK must be an integer >= 0/],
    [{ topK: 1.5 }, /topK .*got 1\.5/],
    [{ topP: 0 }, /topP must be in \(0, 1\]/],
    [{ topP: 1.1 }, /topP .*got 1\.1/],
    [{ minP: 1 }, /minP must be in \[0, 1\)/],
    [{ minP: -0.1 }, /minP .*got -0\.1/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty must be a finite number > 0/],
  ];

  it.each(bad)("rejects %o", (override, message) => {
    expect(() => validateSamplingParams({ ...PLAIN, ...override })).toThrow(RangeError);
    expect(() => validateSamplingParams({ ...PLAIN, ...override })).toThrow(message);
  });

  it("accepts the edges of each range", () => {
    expect(() =>
      validateSamplingParams({
        temperature: 1e-3,
        topK: 0,
        topP: 1,
        minP: 0,
        repetitionPenalty: 1,
        greedy: true,
      }),
    ).not.toThrow();
    expect(() => validateSamplingParams({ ...PLAIN, topP: 1e-6, minP: 0.999, topK: 50 })).not.toThrow();
  });
});
