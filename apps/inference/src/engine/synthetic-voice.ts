import { SAMPLE_RATE } from "./contract";

/**
 * A deterministic voice-like clip (pitched tone with a syllable envelope), 24 kHz: the tiny bundles' default
 * voice, and the warm-up voice for bundles that ship none (Turbo).
 */
export function syntheticVoice(seed = 0, seconds = 6): Float32Array {
  const out = new Float32Array(seconds * SAMPLE_RATE);
  const pitch = 140 + (seed % 60);
  for (let i = 0; i < out.length; i++) {
    const t = i / SAMPLE_RATE;
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3.3 * t);
    out[i] =
      0.2 * envelope * (Math.sin(2 * Math.PI * pitch * t) + 0.3 * Math.sin(2 * Math.PI * 2.5 * pitch * t));
  }
  return out;
}
