import type { AudioStitcher } from "../services/audio-stitcher";

/** Where a session's replies go, in order. */
export interface SessionOutput {
  /** `samples`: audio samples encoded so far; `final`: the session's last reply. */
  bytes(bytes: Uint8Array, samples: number, final: boolean): void;
  failed(message: string): void;
}

/** One session's encoder on the encoder thread. */
export interface SessionEncoder {
  write(samples: Float32Array): void;
  endChunk(pauseMs: number): void;
  /** Ends the stream: a final `bytes` reply follows once every byte is out. */
  finish(): void;
  /** Drops the session without a reply. */
  close(): void;
}

/** wav, pcm and mp3: the stitcher encodes in this thread, so every request is answered with its bytes at once. */
export function inProcessEncoder(stitcher: AudioStitcher, output: SessionOutput): SessionEncoder {
  return {
    write: (samples) => output.bytes(stitcher.write(samples), stitcher.samples, false),
    endChunk: (pauseMs) => output.bytes(stitcher.endChunk(pauseMs), stitcher.samples, false),
    finish: () => output.bytes(stitcher.finish(), stitcher.samples, true),
    close: () => {},
  };
}
