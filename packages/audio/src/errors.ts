/** Why audio was refused. Stable strings: the API maps them to 4xx responses and clients may branch on them. */
export type AudioErrorCode =
  | "EMPTY"
  | "NOT_WAV"
  | "TRUNCATED"
  | "INVALID_HEADER"
  | "UNSUPPORTED_FORMAT"
  | "NO_AUDIO"
  | "TOO_LONG"
  | "TOO_SHORT"
  | "SILENT"
  | "CLIPPED";

/** The one error this package throws for bad audio; `message` is written for the person who supplied it. */
export class AudioError extends Error {
  override name = "AudioError";

  constructor(
    readonly code: AudioErrorCode,
    message: string,
  ) {
    super(message);
  }
}
