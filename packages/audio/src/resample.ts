/**
 * Band-limited resampling of mono float32 audio between arbitrary rates.
 *
 * Every output sample is a dot product of the input with a Kaiser-windowed sinc centred on the output
 * instant (zero phase), whose cutoff follows the lower of the two rates: it removes what would alias when
 * downsampling and the spectral images when upsampling. Samples outside the input count as zero.
 */

export interface ResampleOptions {
  /**
   * "high" (default): passband to 0.43 x the lower rate, ~90 dB stopband from 0.49 x.
   * "fast": passband to 0.40 x, ~60 dB stopband from 0.49 x, with under half the taps.
   */
  quality?: "fast" | "high";
}

type Quality = NonNullable<ResampleOptions["quality"]>;

interface KernelDesign {
  /** -6 dB point, in cycles per lower-rate sample. */
  cutoff: number;
  beta: number;
  /** I0(beta): the window's peak, divided out so the window is 1 at the centre. */
  windowPeak: number;
  /** Half the kernel's support, in lower-rate samples. */
  halfWidth: number;
}

const MIN_RATE = 1;
const MAX_RATE = 768_000;
/** Table entries per lower-rate sample; linear interpolation between them errs by ~1e-6 (-120 dB). */
const TABLE_STEPS = 1024;
/** Largest exact polyphase bank (phases x taps) worth building; past it the shared table is interpolated. */
const MAX_BANK_SIZE = 1 << 17;

/** Band edges are fractions of the lower rate; the stopband starts below its Nyquist: nothing folds back. */
function design(passband: number, stopband: number, attenuationDb: number): KernelDesign {
  // Kaiser's empirical formulas (valid above 50 dB) for window shape and length.
  const order = (attenuationDb - 7.95) / (2.285 * 2 * Math.PI * (stopband - passband));
  const beta = 0.1102 * (attenuationDb - 8.7);
  return {
    cutoff: (passband + stopband) / 2,
    beta,
    windowPeak: besselI0(beta),
    halfWidth: Math.ceil(order / 2),
  };
}

const DESIGNS: Record<Quality, KernelDesign> = {
  high: design(0.43, 0.49, 90),
  fast: design(0.4, 0.49, 60),
};

const tables: Partial<Record<Quality, Float64Array>> = {};
/** Recently used polyphase banks: building one costs milliseconds, which would dominate short clips. */
const banks = new Map<string, Float64Array>();
const MAX_CACHED_BANKS = 8;

/**
 * Resamples mono audio from `fromRate` to `toRate` Hz into `Math.round(length * toRate / fromRate)` samples,
 * output sample m sitting at time m / toRate. Equal rates return a copy; rates outside 1..768000 Hz throw a
 * RangeError.
 */
export function resample(
  samples: Float32Array,
  fromRate: number,
  toRate: number,
  options: ResampleOptions = {},
): Float32Array {
  assertRate("fromRate", fromRate);
  assertRate("toRate", toRate);
  if (fromRate === toRate) return samples.slice();

  const output = new Float32Array(Math.round((samples.length * toRate) / fromRate));
  if (output.length === 0) return output;

  const quality = options.quality ?? "high";
  const spec = DESIGNS[quality];
  // Kernel coordinates are lower-rate samples; `scale` converts input-sample distances into them.
  const scale = Math.min(1, toRate / fromRate);
  // Input samples each side of the output instant within the kernel's reach (+1 for the fractional offset).
  const reach = Math.ceil(spec.halfWidth / scale) + 1;

  if (Number.isInteger(fromRate) && Number.isInteger(toRate)) {
    const divisor = gcd(fromRate, toRate);
    const step = fromRate / divisor;
    const phases = toRate / divisor;
    if (phases * 2 * reach <= MAX_BANK_SIZE) {
      const key = `${quality}:${step}:${phases}`;
      const bank = banks.get(key) ?? polyphaseBank(spec, phases, scale, reach);
      rememberBank(key, bank);
      polyphase(samples, output, bank, step, phases, reach);
      return output;
    }
  }
  interpolated(samples, output, kernelTable(quality), fromRate, toRate, scale, reach);
  return output;
}

function assertRate(name: string, rate: number): void {
  if (!Number.isFinite(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new RangeError(
      `resample: ${name} must be a finite rate in ${MIN_RATE}..${MAX_RATE} Hz, got ${rate}`,
    );
  }
}

function rememberBank(key: string, bank: Float64Array): void {
  // Re-inserting keeps the Map's insertion order least-recently-used first.
  banks.delete(key);
  banks.set(key, bank);
  const oldest = banks.keys().next().value;
  if (banks.size > MAX_CACHED_BANKS && oldest !== undefined) banks.delete(oldest);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Output m sits at input position m * step / phases, so its fractional part takes only `phases` values. */
function polyphase(
  samples: Float32Array,
  output: Float32Array,
  bank: Float64Array,
  step: number,
  phases: number,
  reach: number,
): void {
  const taps = 2 * reach;
  for (let m = 0; m < output.length; m++) {
    // Exact integer arithmetic from m itself: no drift however long the input.
    const numerator = m * step;
    const whole = Math.floor(numerator / phases);
    const offset = (numerator - whole * phases) * taps;
    const first = whole - reach + 1;
    const end = Math.min(taps, samples.length - first);
    let acc = 0;
    for (let j = Math.max(0, -first); j < end; j++) {
      acc += (bank[offset + j] ?? 0) * (samples[first + j] ?? 0);
    }
    output[m] = acc;
  }
}

function polyphaseBank(spec: KernelDesign, phases: number, scale: number, reach: number): Float64Array {
  const taps = 2 * reach;
  const bank = new Float64Array(phases * taps);
  for (let phase = 0; phase < phases; phase++) {
    const base = phase * taps;
    const distance = phase / phases + reach - 1;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const weight = kernel(spec, (distance - j) * scale);
      bank[base + j] = weight;
      sum += weight;
    }
    // Normalising each phase makes the DC gain exactly one.
    for (let j = 0; j < taps; j++) bank[base + j] = (bank[base + j] ?? 0) / sum;
  }
  return bank;
}

/** Arbitrary ratios: weights come from the shared kernel table, renormalised per output for unity DC gain. */
function interpolated(
  samples: Float32Array,
  output: Float32Array,
  table: Float64Array,
  fromRate: number,
  toRate: number,
  scale: number,
  reach: number,
): void {
  const taps = 2 * reach;
  const weights = new Float64Array(taps);
  const tableStep = scale * TABLE_STEPS;
  for (let m = 0; m < output.length; m++) {
    // Derived from m, not accumulated, so rounding cannot drift (exact up to one rounding for integer rates).
    const position = (m * fromRate) / toRate;
    const first = Math.floor(position) - reach + 1;
    const start = (position - first) * tableStep;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const x = Math.abs(start - j * tableStep);
      const k = Math.floor(x);
      const weight = (table[2 * k] ?? 0) + (x - k) * (table[2 * k + 1] ?? 0);
      weights[j] = weight;
      sum += weight;
    }
    const end = Math.min(taps, samples.length - first);
    let acc = 0;
    for (let j = Math.max(0, -first); j < end; j++) acc += (weights[j] ?? 0) * (samples[first + j] ?? 0);
    output[m] = acc / sum;
  }
}

/** The kernel every 1/TABLE_STEPS as interleaved (value, slope to next) pairs; built once per quality. */
function kernelTable(quality: Quality): Float64Array {
  const cached = tables[quality];
  if (cached) return cached;
  const spec = DESIGNS[quality];
  // Tap distances reach at most halfWidth + 2 lower-rate samples; the margin keeps lookups in bounds.
  const entries = (spec.halfWidth + 3) * TABLE_STEPS;
  const table = new Float64Array(2 * entries);
  let next = kernel(spec, 0);
  for (let k = 0; k < entries; k++) {
    const value = next;
    next = kernel(spec, (k + 1) / TABLE_STEPS);
    table[2 * k] = value;
    table[2 * k + 1] = next - value;
  }
  tables[quality] = table;
  return table;
}

/** Windowed sinc at distance u (lower-rate samples), unscaled: callers normalise the weights they use. */
function kernel(spec: KernelDesign, u: number): number {
  const ratio = Math.abs(u) / spec.halfWidth;
  if (ratio >= 1) return 0;
  const x = Math.PI * 2 * spec.cutoff * u;
  const sinc = x === 0 ? 1 : Math.sin(x) / x;
  return (sinc * besselI0(spec.beta * Math.sqrt(1 - ratio * ratio))) / spec.windowPeak;
}

/** Modified Bessel function I0 by its power series, which converges in a few dozen terms for these betas. */
function besselI0(x: number): number {
  const quarterSquare = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; term > sum * 1e-17; k++) {
    term *= quarterSquare / (k * k);
    sum += term;
  }
  return sum;
}
