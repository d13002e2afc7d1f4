import { SETTING_DEFAULTS } from "@tts/api";

import type { Rng } from "./rng";

/**
 * Per-step logits processing and sampling for one row of speech logits, following Hugging Face's processors as
 * Chatterbox uses them. Public functions return new arrays; the `*InPlace` helpers work on `sampleToken`'s
 * reused scratch row so a decode step allocates next to nothing.
 */

export interface SamplingParams {
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off. */
  minP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  /** Argmax after the repetition penalty; draws nothing from the rng. */
  greedy: boolean;
  /**
   * Apply the repetition penalty after temperature/top-k/min-p/top-p instead of first: upstream Turbo's
   * processor order (English penalizes first).
   */
  penaltyLast?: boolean;
}

export const TURBO_DEFAULTS: SamplingParams = Object.freeze({
  temperature: SETTING_DEFAULTS.temperature,
  topK: 1000,
  topP: 0.95,
  minP: 0,
  repetitionPenalty: 1.2,
  greedy: false,
  penaltyLast: true,
});

export const ENGLISH_DEFAULTS: SamplingParams = Object.freeze({
  temperature: SETTING_DEFAULTS.temperature,
  topK: 0,
  topP: 1,
  minP: 0.05,
  repetitionPenalty: 1.2,
  greedy: false,
});

export const ENGLISH_CFG_WEIGHT = SETTING_DEFAULTS.cfgWeight;
export const ENGLISH_EXAGGERATION = SETTING_DEFAULTS.exaggeration;

export function validateSamplingParams(params: SamplingParams): void {
  const { temperature, topK, topP, minP, repetitionPenalty } = params;
  // Written as negated comparisons so NaN fails every check.
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new RangeError(`temperature must be a finite number > 0 (got ${temperature})`);
  }
  if (!(Number.isInteger(topK) && topK >= 0)) {
    throw new RangeError(`topK must be an integer >= 0, 0 = off (got ${topK})`);
  }
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], 1 = off (got ${topP})`);
  if (!(minP >= 0 && minP < 1)) throw new RangeError(`minP must be in [0, 1), 0 = off (got ${minP})`);
  if (!(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0)) {
    throw new RangeError(`repetitionPenalty must be a finite number > 0, 1 = off (got ${repetitionPenalty})`);
  }
}

/** Grow-only scratch buffers shared by every call (sampling is synchronous, so calls never interleave). */
const scratch = {
  row: new Float32Array(0),
  values: new Float32Array(0),
  indices: new Int32Array(0),
  weights: new Float64Array(0),
};

function ensureScratch(n: number): void {
  if (scratch.row.length >= n) return;
  scratch.row = new Float32Array(n);
  scratch.values = new Float32Array(n);
  scratch.indices = new Int32Array(n);
  scratch.weights = new Float64Array(n);
}

function maxOf(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > max) max = v;
  }
  return max;
}

/** First index of the largest value. */
export function argmax(logits: Float32Array): number {
  let best = -1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > max) {
      max = v;
      best = i;
    }
  }
  if (best < 0) throw new RangeError("argmax needs at least one logit above -Infinity");
  return best;
}

export function softmax(logits: Float32Array): Float32Array {
  const max = maxOf(logits);
  if (max === -Infinity) throw new RangeError("softmax needs at least one finite logit");
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  for (let i = 0; i < logits.length; i++) out[i] = Math.exp(logits[i]! - max) / sum;
  return out;
}

/**
 * `cond + weight * (cond - uncond)`: classifier-free guidance over the two rows of a batch-2 step. Written into
 * `out` when given (of the rows' length), else into a new array.
 */
export function applyCfg(
  cond: Float32Array,
  uncond: Float32Array,
  weight: number,
  out: Float32Array = new Float32Array(cond.length),
): Float32Array {
  if (cond.length !== uncond.length) {
    throw new RangeError(`CFG rows differ in length: cond ${cond.length}, uncond ${uncond.length}`);
  }
  if (out.length !== cond.length)
    throw new RangeError(`CFG output has ${out.length} entries, not ${cond.length}`);
  for (let i = 0; i < cond.length; i++) {
    const c = cond[i]!;
    out[i] = c + weight * (c - uncond[i]!);
  }
  return out;
}

/**
 * Writes the penalized value of each generated id into `out`, computed from `source`: recomputing from the
 * unpenalized value makes repeats idempotent, which gives HF's once-per-distinct-id semantics without a set.
 */
function repetitionPenaltyInto(
  out: Float32Array,
  source: Float32Array,
  ids: Iterable<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  for (const id of ids) {
    const v = source[id]; // undefined for negative, fractional or too-large ids
    if (v === undefined) {
      throw new RangeError(`generated id ${id} is outside the logits vocabulary (0..${source.length - 1})`);
    }
    out[id] = v > 0 ? v / penalty : v * penalty;
  }
}

export function applyRepetitionPenalty(
  logits: Float32Array,
  generatedIds: Iterable<number>,
  penalty: number,
): Float32Array {
  const out = logits.slice();
  repetitionPenaltyInto(out, logits, generatedIds, penalty);
  return out;
}

function temperatureInPlace(logits: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / temperature;
}

export function applyTemperature(logits: Float32Array, temperature: number): Float32Array {
  const out = logits.slice();
  temperatureInPlace(out, temperature);
  return out;
}

/**
 * The k-th largest value (1-based) by Hoare/Wirth selection, O(n) on average; reorders `values`.
 * Avoids sorting the whole vocabulary every step.
 */
function kthLargest(values: Float32Array, k: number): number {
  const target = k - 1;
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[target]!;
    let i = lo;
    let j = hi;
    do {
      while (values[i]! > pivot) i++;
      while (values[j]! < pivot) j--;
      if (i <= j) {
        const tmp = values[i]!;
        values[i] = values[j]!;
        values[j] = tmp;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < target) lo = i;
    if (target < i) hi = j;
  }
  return values[target]!;
}

/** HF TopKLogitsWarper: drops everything below the k-th largest value (ties with it are kept). */
function topKInPlace(logits: Float32Array, k: number): void {
  if (k === 0 || k >= logits.length) return;
  ensureScratch(logits.length);
  const values = scratch.values.subarray(0, logits.length);
  values.set(logits);
  const threshold = kthLargest(values, k);
  for (let i = 0; i < logits.length; i++) if (logits[i]! < threshold) logits[i] = -Infinity;
}

export function topKFilter(logits: Float32Array, k: number): Float32Array {
  const out = logits.slice();
  topKInPlace(out, k);
  return out;
}

/**
 * HF MinPLogitsWarper: drops tokens with prob < minP * maxProb. Compared in log space
 * (logit < maxLogit + ln minP), which is the same test without a softmax; the max always survives.
 */
function minPInPlace(logits: Float32Array, minP: number): void {
  if (minP === 0) return;
  const cutoff = maxOf(logits) + Math.log(minP);
  for (let i = 0; i < logits.length; i++) if (logits[i]! < cutoff) logits[i] = -Infinity;
}

export function minPFilter(logits: Float32Array, minP: number): Float32Array {
  const out = logits.slice();
  minPInPlace(out, minP);
  return out;
}

/**
 * HF TopPLogitsWarper: keeps the most probable tokens until their cumulative probability reaches topP (a token
 * is kept while the mass ranked above it is < topP), at least one. Only surviving (finite) entries are sorted,
 * so after top-k this sorts ~k values, not the vocabulary. Equal logits rank by lower id.
 */
function topPInPlace(logits: Float32Array, topP: number): void {
  if (topP >= 1) return;
  ensureScratch(logits.length);
  const { indices: allIndices, weights } = scratch;
  let n = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > -Infinity) allIndices[n++] = i;
  if (n === 0) return;
  const order = allIndices.subarray(0, n);
  order.sort((a, b) => logits[b]! - logits[a]! || a - b);

  const max = logits[order[0]!]!;
  let total = 0;
  for (let r = 0; r < n; r++) {
    const w = Math.exp(logits[order[r]!]! - max);
    weights[r] = w;
    total += w;
  }
  let cumulative = weights[0]!;
  let r = 1;
  while (r < n && cumulative / total < topP) cumulative += weights[r++]!;
  for (; r < n; r++) logits[order[r]!] = -Infinity;
}

export function topPFilter(logits: Float32Array, topP: number): Float32Array {
  const out = logits.slice();
  topPInPlace(out, topP);
  return out;
}

/** Inverse-CDF draw over softmax(logits) in id order, from one uniform `u` in [0, 1). */
function sampleIndex(logits: Float32Array, u: number): number {
  ensureScratch(logits.length);
  const weights = scratch.weights;
  const max = maxOf(logits);
  if (max === -Infinity) throw new RangeError("cannot sample: every logit is -Infinity or NaN");
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    const w = v > -Infinity ? Math.exp(v - max) : 0;
    weights[i] = w;
    total += w;
  }
  const target = u * total;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    cumulative += w;
    last = i;
    if (cumulative > target) return i;
  }
  // Rounding can leave the running sum a hair under `target` when u is close to 1.
  return last;
}

/**
 * One decode step: repetition penalty -> (greedy: argmax) -> temperature -> top-k -> min-p -> top-p -> softmax ->
 * inverse-CDF sample with exactly one `rng.next()` draw (with `penaltyLast`, the penalty moves after top-p).
 * `logits` is left untouched.
 */
export function sampleToken(
  logits: Float32Array,
  generated: readonly number[],
  params: SamplingParams,
  rng: Rng,
): number {
  validateSamplingParams(params);
  ensureScratch(logits.length);
  const row = scratch.row.subarray(0, logits.length);
  row.set(logits);
  const penaltyLast = params.penaltyLast === true && !params.greedy;
  if (!penaltyLast) repetitionPenaltyInto(row, logits, generated, params.repetitionPenalty);
  if (params.greedy) return argmax(row);
  temperatureInPlace(row, params.temperature);
  topKInPlace(row, params.topK);
  minPInPlace(row, params.minP);
  topPInPlace(row, params.topP);
  // Filtered entries are -Infinity and stay so; survivors are penalized once per distinct id.
  if (penaltyLast) {
    // The penalty reads unpenalized values; top-k's scratch is free again by now, so no copy is allocated.
    const source = scratch.values.subarray(0, row.length);
    source.set(row);
    repetitionPenaltyInto(row, source, generated, params.repetitionPenalty);
  }
  return sampleIndex(row, rng.next());
}
