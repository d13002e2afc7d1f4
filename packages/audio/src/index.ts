export { MODEL_SAMPLE_RATE } from "./constants";
export { AudioError, type AudioErrorCode } from "./errors";
export { decodeWav, type DecodedAudio, type DecodeWavOptions } from "./wav-decode";
export { encodeWav, wavHeader, UNKNOWN_LENGTH, type WavOutputEncoding } from "./wav-encode";
export type { WavEncoding } from "./wav-format";
export { encodePcm16, floatToInt16, int16ToFloat } from "./pcm";
export { concatBytes } from "./bytes";
export {
  createMp3Encoder,
  encodeMp3,
  MP3_BITRATES_KBPS,
  MP3_SAMPLE_RATES,
  type Mp3StreamEncoder,
} from "./mp3";
export {
  createStreamEncoder,
  STREAM_CONTENT_TYPES,
  type AudioStreamEncoder,
  type StreamEncoderOptions,
  type StreamFormat,
} from "./stream";
export { resample, type ResampleOptions } from "./resample";
export { createTimeStretcher, timeStretch, type TimeStretcher } from "./time-stretch";
export { integratedLoudness, normalizeLoudness } from "./loudness";
export {
  clippedFraction,
  concatSamples,
  crossfade,
  dbToGain,
  gainToDb,
  peakLevel,
  peakNormalize,
  trimSilence,
  type TrimOptions,
  type TrimResult,
} from "./dsp";
export { prepareReferenceClip, type ReferenceClip, type ReferenceClipOptions } from "./reference-clip";
