// Browser-safe (no wavefile): the header a streaming writer or a browser recorder puts before raw PCM.
import type { WavOutputEncoding } from "./wav-encode";
import { bytesPerSample, formatTag } from "./wav-format";

/** What a streaming writer puts in the RIFF and data sizes when the length is unknown (read to the end). */
export const UNKNOWN_LENGTH = 0xffffffff;

/**
 * The canonical 44-byte header of a mono WAV file. With `dataBytes` left unknown both sizes are 0xFFFFFFFF,
 * the convention ffmpeg and browsers read as "until the end of the stream".
 */
export function wavHeader(
  sampleRate: number,
  encoding: WavOutputEncoding,
  dataBytes = UNKNOWN_LENGTH,
): Uint8Array {
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  const width = bytesPerSample(encoding);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  view.setUint32(4, dataBytes === UNKNOWN_LENGTH ? UNKNOWN_LENGTH : 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, formatTag(encoding), true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * width, true);
  view.setUint16(32, width, true);
  view.setUint16(34, width * 8, true);
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  return header;
}
