/**
 * ITU-R BS.1770-4 / EBU R128 integrated loudness (LUFS) and loudness normalisation.
 *
 * Channel weights: every channel counts 1.0 (mono, stereo, L/R/C), except that with exactly five channels
 * (L, R, C, Ls, Rs) the surrounds at index 3 and 4 count 1.41, as BS.1770 specifies. Other layouts (LFE,
 * 7.1, ...) are not special-cased.
 */

/** Biquad coefficients with a0 normalised to 1: y = b0 x + b1 x[-1] + b2 x[-2] - a1 y[-1] - a2 y[-2]. */
export interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

// Analog prototypes of the K-weighting stages as parametrised by libebur128 / pyloudnorm; the bilinear
// transform (pre-warped at f0) reproduces BS.1770's 48 kHz table and extends it to any sample rate.
const SHELF_F0 = 1681.974450955533;
const SHELF_GAIN_DB = 3.999843853973347;
const SHELF_Q = 0.7071752369554196;
const HIGHPASS_F0 = 38.13547087602444;
const HIGHPASS_Q = 0.5003270373238773;

const BLOCK_OFFSET_LUFS = -0.691;
const ABSOLUTE_GATE_LUFS = -70;
const RELATIVE_GATE_LU = -10;
/** Gating blocks are 400 ms = four 100 ms hops (75 % overlap). */
const HOPS_PER_BLOCK = 4;
const HOPS_PER_SECOND = 10;
const SURROUND_WEIGHT = 1.41;
const DEFAULT_PEAK_CEILING = 0.999;

function assertSampleRate(sampleRate: number): void {
  if (!Number.isFinite(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`sampleRate must be a positive finite number of Hz, got ${sampleRate}`);
  }
}

export function kWeightingCoefficients(sampleRate: number): { shelf: Biquad; highpass: Biquad } {
  assertSampleRate(sampleRate);
  // Below this the shelf's corner sits above Nyquist and tan() in the bilinear transform folds over.
  if (sampleRate <= 2 * SHELF_F0) {
    throw new RangeError(
      `sampleRate must exceed ${Math.ceil(2 * SHELF_F0)} Hz for K-weighting, got ${sampleRate}`,
    );
  }

  const ks = Math.tan((Math.PI * SHELF_F0) / sampleRate);
  const vh = 10 ** (SHELF_GAIN_DB / 20);
  const vb = vh ** 0.4996667741545416;
  const shelfA0 = 1 + ks / SHELF_Q + ks * ks;
  const shelf: Biquad = {
    b0: (vh + (vb * ks) / SHELF_Q + ks * ks) / shelfA0,
    b1: (2 * (ks * ks - vh)) / shelfA0,
    b2: (vh - (vb * ks) / SHELF_Q + ks * ks) / shelfA0,
    a1: (2 * (ks * ks - 1)) / shelfA0,
    a2: (1 - ks / SHELF_Q + ks * ks) / shelfA0,
  };

  const kh = Math.tan((Math.PI * HIGHPASS_F0) / sampleRate);
  const highpassA0 = 1 + kh / HIGHPASS_Q + kh * kh;
  // The numerator stays [1, -2, 1] un-normalised, exactly as BS.1770 tabulates it.
  const highpass: Biquad = {
    b0: 1,
    b1: -2,
    b2: 1,
    a1: (2 * (kh * kh - 1)) / highpassA0,
    a2: (1 - kh / HIGHPASS_Q + kh * kh) / highpassA0,
  };

  return { shelf, highpass };
}

/** Sample index where 100 ms hop `k` starts; rounded so non-multiple-of-10 rates still tile exactly. */
function hopBoundary(k: number, sampleRate: number): number {
  return Math.round((k * sampleRate) / HOPS_PER_SECOND);
}

/** Number of complete 100 ms hops that fit in `length` samples. */
function completeHops(length: number, sampleRate: number): number {
  let hops = Math.floor((length * HOPS_PER_SECOND) / sampleRate);
  while (hopBoundary(hops + 1, sampleRate) <= length) hops++;
  while (hops > 0 && hopBoundary(hops, sampleRate) > length) hops--;
  return hops;
}

/**
 * Adds `weight` × the K-weighted energy (sum of squares) of each complete 100 ms hop of `samples` into
 * `hopEnergy`. Filter state runs in doubles; samples past the last complete hop never reach a block.
 */
function accumulateHopEnergy(
  samples: Float32Array,
  sampleRate: number,
  filters: { shelf: Biquad; highpass: Biquad },
  weight: number,
  hopEnergy: Float64Array,
): void {
  const { b0: sb0, b1: sb1, b2: sb2, a1: sa1, a2: sa2 } = filters.shelf;
  const { b0: hb0, b1: hb1, b2: hb2, a1: ha1, a2: ha2 } = filters.highpass;
  let s1 = 0;
  let s2 = 0;
  let h1 = 0;
  let h2 = 0;
  let start = 0;
  for (let k = 0; k < hopEnergy.length; k++) {
    const end = hopBoundary(k + 1, sampleRate);
    let energy = 0;
    for (let i = start; i < end; i++) {
      const x = samples[i] as number;
      // Transposed direct form II, shelf then high-pass.
      const shelved = sb0 * x + s1;
      s1 = sb1 * x - sa1 * shelved + s2;
      s2 = sb2 * x - sa2 * shelved;
      const y = hb0 * shelved + h1;
      h1 = hb1 * shelved - ha1 * y + h2;
      h2 = hb2 * shelved - ha2 * y;
      energy += y * y;
    }
    hopEnergy[k] = (hopEnergy[k] as number) + weight * energy;
    start = end;
  }
}

function lufsToPower(lufs: number): number {
  return 10 ** ((lufs - BLOCK_OFFSET_LUFS) / 10);
}

/**
 * Gated integrated loudness in LUFS of one (mono) or more channels at `sampleRate`.
 * Returns -Infinity when no 400 ms block passes the gates (silence, or input shorter than one block).
 */
export function integratedLoudness(
  channels: Float32Array | readonly Float32Array[],
  sampleRate: number,
): number {
  assertSampleRate(sampleRate);
  const list: readonly Float32Array[] = channels instanceof Float32Array ? [channels] : channels;
  const first = list[0];
  if (first === undefined) throw new RangeError("integratedLoudness needs at least one channel");
  const length = first.length;
  for (const [index, channel] of list.entries()) {
    if (channel.length !== length) {
      throw new RangeError(
        `all channels must have the same length: channel 0 has ${length} samples, channel ${index} has ${channel.length}`,
      );
    }
  }

  const hops = completeHops(length, sampleRate);
  const blockCount = hops - HOPS_PER_BLOCK + 1;
  if (blockCount <= 0) return -Infinity;

  const filters = kWeightingCoefficients(sampleRate);
  // Channel weights are linear, so weighting each hop's energy before summing into blocks is equivalent.
  const hopEnergy = new Float64Array(hops);
  for (const [index, channel] of list.entries()) {
    const weight = list.length === 5 && (index === 3 || index === 4) ? SURROUND_WEIGHT : 1;
    accumulateHopEnergy(channel, sampleRate, filters, weight, hopEnergy);
  }

  const blockPower = new Float64Array(blockCount);
  for (let j = 0; j < blockCount; j++) {
    let energy = 0;
    for (let k = j; k < j + HOPS_PER_BLOCK; k++) energy += hopEnergy[k] as number;
    blockPower[j] = energy / (hopBoundary(j + HOPS_PER_BLOCK, sampleRate) - hopBoundary(j, sampleRate));
  }

  // Gates compare powers rather than per-block logarithms; the -0.691 offset is folded into the thresholds.
  const absoluteGate = lufsToPower(ABSOLUTE_GATE_LUFS);
  let sum = 0;
  let count = 0;
  for (const power of blockPower) {
    if (power > absoluteGate) {
      sum += power;
      count++;
    }
  }
  if (count === 0) return -Infinity;

  const relativeGate = (sum / count) * 10 ** (RELATIVE_GATE_LU / 10);
  sum = 0;
  count = 0;
  for (const power of blockPower) {
    if (power > absoluteGate && power > relativeGate) {
      sum += power;
      count++;
    }
  }
  return count === 0 ? -Infinity : BLOCK_OFFSET_LUFS + 10 * Math.log10(sum / count);
}

/**
 * Scales mono `samples` by one linear gain so their integrated loudness becomes `targetLufs`, returning a new
 * array. If that gain would put the absolute peak above `peakCeiling` (linear, default 0.999) the gain is
 * lowered so the peak lands on the ceiling and `limited` is true: the result is then quieter than the target
 * (no compression or limiting of the waveform is attempted). `loudnessLufs` is measured on the returned
 * samples; unmeasurable input (-Infinity) comes back as an unscaled copy.
 */
export function normalizeLoudness(
  samples: Float32Array,
  sampleRate: number,
  targetLufs: number,
  options?: { peakCeiling?: number },
): { samples: Float32Array; loudnessLufs: number; gainDb: number; limited: boolean } {
  const peakCeiling = options?.peakCeiling ?? DEFAULT_PEAK_CEILING;
  if (!Number.isFinite(targetLufs)) throw new RangeError(`targetLufs must be finite, got ${targetLufs}`);
  if (!Number.isFinite(peakCeiling) || peakCeiling <= 0) {
    throw new RangeError(`peakCeiling must be a positive finite linear amplitude, got ${peakCeiling}`);
  }

  const inputLufs = integratedLoudness(samples, sampleRate);
  if (inputLufs === -Infinity) {
    return { samples: samples.slice(), loudnessLufs: -Infinity, gainDb: 0, limited: false };
  }

  let peak = 0;
  for (const x of samples) peak = Math.max(peak, Math.abs(x));

  let gain = 10 ** ((targetLufs - inputLufs) / 20);
  let limited = false;
  // Compare after float32 rounding: the stored sample is what must stay under the ceiling.
  if (Math.fround(peak * gain) > peakCeiling) {
    limited = true;
    gain = peakCeiling / peak;
    while (Math.fround(peak * gain) > peakCeiling) gain *= 1 - 2 ** -24;
  }

  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] as number) * gain;

  return {
    samples: out,
    loudnessLufs: integratedLoudness(out, sampleRate),
    gainDb: 20 * Math.log10(gain),
    limited,
  };
}
