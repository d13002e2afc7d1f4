/** Small pure helpers the engine needs between model output and the listener. */

export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

export function gainToDb(gain: number): number {
  return 20 * Math.log10(gain);
}

export function peakLevel(samples: Float32Array): number {
  let peak = 0;
  for (const sample of samples) {
    const magnitude = Math.abs(sample);
    if (magnitude > peak) peak = magnitude;
  }
  return peak;
}

/**
 * Joins two chunks, overlapping the end of `a` with the start of `b` by `overlap` samples using equal-power
 * (sine/cosine) gains, so uncorrelated audio keeps its loudness through the join and there is no click.
 */
export function crossfade(a: Float32Array, b: Float32Array, overlap: number): Float32Array {
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > a.length || overlap > b.length) {
    throw new RangeError(
      `Crossfade overlap ${overlap} must be a whole number from 0 to ${Math.min(a.length, b.length)}.`,
    );
  }
  const out = new Float32Array(a.length + b.length - overlap);
  const joinStart = a.length - overlap;
  out.set(a.subarray(0, joinStart));
  for (let i = 0; i < overlap; i++) {
    const angle = ((i + 0.5) / overlap) * (Math.PI / 2);
    out[joinStart + i] = (a[joinStart + i] ?? 0) * Math.cos(angle) + (b[i] ?? 0) * Math.sin(angle);
  }
  out.set(b.subarray(overlap), a.length);
  return out;
}

export interface TrimOptions {
  /** Samples quieter than this (dBFS, absolute value) count as silence. Default -50. */
  thresholdDb?: number;
  /** Silence kept at each trimmed end so onsets and decays are not cut. Default 20 ms. */
  padSeconds?: number;
  leading?: boolean;
  trailing?: boolean;
}

export interface TrimResult {
  samples: Float32Array;
  /** First kept sample index in the input. */
  start: number;
  /** One past the last kept sample index in the input. */
  end: number;
}

/** Removes leading and/or trailing silence. All-silent input comes back empty. */
export function trimSilence(
  samples: Float32Array,
  sampleRate: number,
  options: TrimOptions = {},
): TrimResult {
  const { thresholdDb = -50, padSeconds = 0.02, leading = true, trailing = true } = options;
  const threshold = dbToGain(thresholdDb);
  const pad = Math.round(padSeconds * sampleRate);
  let first = 0;
  while (first < samples.length && Math.abs(samples[first] ?? 0) < threshold) first++;
  if (first === samples.length) return { samples: new Float32Array(0), start: 0, end: 0 };
  let last = samples.length - 1;
  while (last > first && Math.abs(samples[last] ?? 0) < threshold) last--;
  const start = leading ? Math.max(0, first - pad) : 0;
  const end = trailing ? Math.min(samples.length, last + 1 + pad) : samples.length;
  return { samples: samples.slice(start, end), start, end };
}

/** Scales so the absolute peak sits at `targetDb` dBFS. Silence is returned unchanged (as a copy). */
export function peakNormalize(samples: Float32Array, targetDb = -1): Float32Array {
  const peak = peakLevel(samples);
  if (peak === 0) return samples.slice();
  return scale(samples, dbToGain(targetDb) / peak);
}

export function scale(samples: Float32Array, gain: number): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] ?? 0) * gain;
  return out;
}

/**
 * Fraction of samples that sit in runs of at least `minRun` consecutive full-scale values: the flat tops a
 * clipping recorder leaves (a lone full-scale sample is legitimate).
 */
export function clippedFraction(samples: Float32Array, { level = 0.999, minRun = 3 } = {}): number {
  if (samples.length === 0) return 0;
  let clipped = 0;
  let run = 0;
  for (const sample of samples) {
    if (Math.abs(sample) >= level) {
      run++;
      continue;
    }
    if (run >= minRun) clipped += run;
    run = 0;
  }
  if (run >= minRun) clipped += run;
  return clipped / samples.length;
}

/** The parts one after another, in one new array. */
export function concatSamples(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
