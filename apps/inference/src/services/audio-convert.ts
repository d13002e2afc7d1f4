import { AUDIO_FORMATS, ServiceError, type AudioFormat } from "@tts/api";
import { AudioError, concatBytes, decodeWav, int16ToFloat, resample } from "@tts/audio";

import { SAMPLE_RATE } from "../engine/contract";
import type { AudioEncoders } from "./audio-encoders";
import { CONTENT_TYPES } from "./audio-formats";
import type { FormatSupport } from "./ffmpeg";

/** Stored formats that can be decoded here, hence converted: the lossless ones the node writes itself. */
const CONVERTIBLE: readonly AudioFormat[] = ["wav", "pcm"];

export interface ConvertedAudio {
  bytes: Uint8Array;
  contentType: string;
}

/** Re-encodes stored audio into another format for a download: `GET /v1/audio/{id}?format=mp3`. */
export type AudioConverter = (bytes: Uint8Array, from: AudioFormat, to: string) => Promise<ConvertedAudio>;

/** A `format` query value, checked against the API's formats (400 naming them otherwise). */
export function parseFormat(value: string): AudioFormat {
  const format = AUDIO_FORMATS.find((known) => known === value);
  if (!format)
    throw new ServiceError(
      "BAD_REQUEST",
      `Unknown format ${JSON.stringify(value.slice(0, 40))}; use one of ${AUDIO_FORMATS.join(", ")}.`,
    );
  return format;
}

/** The requested format, checked: one of the API's, one this node can encode, and reachable from `from`. */
function targetFormat(from: AudioFormat, to: string, formats: FormatSupport): AudioFormat {
  const format = parseFormat(to);
  const missing = formats.missing[format];
  if (missing) throw new ServiceError("NOT_IMPLEMENTED", missing);
  if (!CONVERTIBLE.includes(from))
    throw new ServiceError(
      "BAD_REQUEST",
      `This audio is stored as ${from}, which is converted to nothing else; ask for format=${from}.`,
    );
  return format;
}

/** Decodes stored WAV or raw PCM to samples at the model's rate. */
function samplesOf(bytes: Uint8Array, from: AudioFormat): Float32Array {
  // Copied: Int16Array needs an even offset, which a slice of a larger buffer may not have.
  if (from === "pcm") return int16ToFloat(new Int16Array(bytes.slice(0, bytes.length & ~1).buffer));
  try {
    const decoded = decodeWav(bytes);
    return decoded.sampleRate === SAMPLE_RATE
      ? decoded.samples
      : resample(decoded.samples, decoded.sampleRate, SAMPLE_RATE);
  } catch (error) {
    // The node wrote this file: failing to read it back is the server's problem, not the caller's.
    if (error instanceof AudioError)
      throw new Error(`Stored audio does not decode: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Converts on the encoder thread (MP3 and ffmpeg work stays off the event loop). */
export function createAudioConverter(encoders: AudioEncoders, formats: FormatSupport): AudioConverter {
  return async (bytes, from, to) => {
    const format = targetFormat(from, to, formats);
    const samples = samplesOf(bytes, from);
    const parts: Uint8Array[] = [];
    let failure: Error | undefined;
    const session = encoders.open(format, 1, {
      bytes: (chunk) => parts.push(chunk),
      failed: (error) => (failure = error),
    });
    session.write(samples);
    await session.finish();
    if (failure) throw failure;
    return { bytes: concatBytes(parts), contentType: CONTENT_TYPES[format] };
  };
}
