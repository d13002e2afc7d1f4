/**
 * Changes speed without changing pitch: WSOLA (waveform-similarity overlap-add). Each output frame is taken
 * from near its ideal input position, shifted within a small tolerance to where it best continues the previous
 * frame, so periodic speech overlaps in phase instead of smearing.
 */
const WINDOW_SECONDS = 0.03;
const TOLERANCE_SECONDS = 0.01;
/** Similarity is measured on every Nth sample: ample for alignment at a fraction of the cost. */
const CORRELATION_STRIDE = 4;

export function timeStretch(samples: Float32Array, sampleRate: number, speed: number): Float32Array {
  if (!Number.isFinite(speed) || speed < 0.25 || speed > 4) {
    throw new RangeError(`speed must be between 0.25 and 4 (got ${speed})`);
  }
  if (speed === 1 || samples.length === 0) return samples.slice();
  const window = Math.max(16, Math.round(WINDOW_SECONDS * sampleRate) & ~1);
  const hop = window / 2;
  const tolerance = Math.round(TOLERANCE_SECONDS * sampleRate);
  const targetLength = Math.round(samples.length / speed);
  const hann = new Float32Array(window);
  for (let i = 0; i < window; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / window);

  const out = new Float32Array(targetLength + window);
  const weight = new Float32Array(targetLength + window);
  const at = (i: number) => (i >= 0 && i < samples.length ? samples[i]! : 0);
  let previous = 0;
  for (let frame = 0; frame * hop < targetLength; frame++) {
    const ideal = Math.round(frame * hop * speed);
    let start = ideal;
    if (frame > 0) {
      // Best match for the samples that naturally followed the previous frame.
      const natural = previous + hop;
      let best = -Infinity;
      for (let delta = -tolerance; delta <= tolerance; delta++) {
        const candidate = ideal + delta;
        let score = 0;
        for (let i = 0; i < window; i += CORRELATION_STRIDE) score += at(candidate + i) * at(natural + i);
        if (score > best) {
          best = score;
          start = candidate;
        }
      }
    }
    const offset = frame * hop;
    for (let i = 0; i < window; i++) {
      out[offset + i]! += at(start + i) * hann[i]!;
      weight[offset + i]! += hann[i]!;
    }
    previous = start;
  }
  const result = new Float32Array(targetLength);
  for (let i = 0; i < targetLength; i++) result[i] = out[i]! / Math.max(weight[i]!, 1e-3);
  return result;
}
