/**
 * Float <-> 16-bit PCM. Scaling by 32768 both ways makes encode -> decode exact to half an LSB (full-scale
 * positive clips to 32767); out-of-range and NaN input is clipped, never wrapped.
 */
export function floatToInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const scaled = Math.round((samples[i] ?? 0) * 32_768);
    out[i] = scaled >= 32_767 ? 32_767 : scaled <= -32_768 ? -32_768 : scaled || 0;
  }
  return out;
}

export function int16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] ?? 0) / 32_768;
  return out;
}

/** Raw PCM s16le bytes (what `response_format: "pcm"` streams). */
export function encodePcm16(samples: Float32Array): Uint8Array {
  const pcm = floatToInt16(samples);
  const bytes = new Uint8Array(pcm.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i] ?? 0, true);
  return bytes;
}
