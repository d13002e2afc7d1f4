import { MODEL_SAMPLE_RATE } from "./constants";
import { clippedFraction, peakLevel, trimSilence } from "./dsp";
import { AudioError } from "./errors";
import { normalizeLoudness } from "./loudness";
import { resample } from "./resample";
import { decodeWav } from "./wav-decode";

export interface ReferenceClipOptions {
  /** Rate the speech encoder wants. Default 24 kHz. */
  sampleRate?: number;
  /** Shortest speech accepted after trimming silence. Default 5 s (Chatterbox Turbo's upstream minimum). */
  minSeconds?: number;
  /** Longer clips are cut to this (the model only conditions on the first seconds). Default 15 s. */
  maxSeconds?: number;
  /** Input longer than this is refused before decoding its samples. Default 300 s. */
  maxInputSeconds?: number;
  /** Loudness target. Default -27 LUFS (Chatterbox Turbo's upstream normalization). */
  targetLufs?: number;
  /** Below this (dBFS) a sample counts as silence for trimming and the silent-clip check. Default -50. */
  silenceThresholdDb?: number;
  /** Refuse clips with more than this fraction of clipped samples. Default 0.001 (0.1 %). */
  maxClippedFraction?: number;
}

export interface ReferenceClip {
  samples: Float32Array;
  sampleRate: number;
  durationSeconds: number;
  source: { sampleRate: number; channels: number; durationSeconds: number };
  /** Seconds of silence removed from the start and the end. */
  trimmed: { leadingSeconds: number; trailingSeconds: number };
  /** True when the clip was cut to `maxSeconds`. */
  truncated: boolean;
  loudnessLufs: number;
  gainDb: number;
}

/**
 * Turns whatever WAV a user uploaded into the clip the model conditions on:
 * decode -> mono -> trim silence -> resample -> cap length -> loudness-normalize.
 * Throws AudioError (decode codes, or TOO_SHORT / SILENT / CLIPPED) with a reason the user can act on.
 */
export function prepareReferenceClip(
  input: Uint8Array | ArrayBuffer,
  options: ReferenceClipOptions = {},
): ReferenceClip {
  const {
    sampleRate = MODEL_SAMPLE_RATE,
    minSeconds = 5,
    maxSeconds = 15,
    maxInputSeconds = 300,
    targetLufs = -27,
    silenceThresholdDb = -50,
    maxClippedFraction = 0.001,
  } = options;
  const decoded = decodeWav(input, { maxDurationSeconds: maxInputSeconds });
  const peakDb = 20 * Math.log10(peakLevel(decoded.samples));
  if (peakDb < silenceThresholdDb) {
    throw new AudioError(
      "SILENT",
      `The voice clip is silent (peak ${Number.isFinite(peakDb) ? `${peakDb.toFixed(1)} dBFS` : "-inf"}). Check the microphone and record again.`,
    );
  }
  const clipped = clippedFraction(decoded.samples);
  if (clipped > maxClippedFraction) {
    throw new AudioError(
      "CLIPPED",
      `The voice clip is distorted: ${(clipped * 100).toFixed(2)} % of its samples are clipped at full scale. Record at a lower input level.`,
    );
  }

  const trim = trimSilence(decoded.samples, decoded.sampleRate, { thresholdDb: silenceThresholdDb });
  const speechSeconds = trim.samples.length / decoded.sampleRate;
  if (speechSeconds < minSeconds) {
    throw new AudioError(
      "TOO_SHORT",
      `The voice clip has ${speechSeconds.toFixed(1)} s of sound after trimming silence; at least ${minSeconds} s is needed.`,
    );
  }

  const resampled = resample(trim.samples, decoded.sampleRate, sampleRate);
  const maxSamples = Math.round(maxSeconds * sampleRate);
  const truncated = resampled.length > maxSamples;
  const capped = truncated ? resampled.subarray(0, maxSamples) : resampled;
  const normalized = normalizeLoudness(capped, sampleRate, targetLufs);

  return {
    samples: normalized.samples,
    sampleRate,
    durationSeconds: normalized.samples.length / sampleRate,
    source: {
      sampleRate: decoded.sampleRate,
      channels: decoded.channels,
      durationSeconds: decoded.durationSeconds,
    },
    trimmed: {
      leadingSeconds: trim.start / decoded.sampleRate,
      trailingSeconds: (decoded.samples.length - trim.end) / decoded.sampleRate,
    },
    truncated,
    loudnessLufs: normalized.loudnessLufs,
    gainDb: normalized.gainDb,
  };
}
