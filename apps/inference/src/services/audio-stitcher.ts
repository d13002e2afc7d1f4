import {
  concatBytes,
  concatSamples,
  createStreamEncoder,
  createTimeStretcher,
  type AudioStreamEncoder,
  type StreamFormat,
  type TimeStretcher,
} from "@tts/audio";

import { SAMPLE_RATE } from "../engine/contract";

const MP3_KBPS = 128;
/** Each text chunk's audio fades in and out over this long (5 ms), so pauses between chunks never click. */
const EDGE_FADE_SAMPLES = 120;

/**
 * Turns a job's audio, text chunk by text chunk, into the bytes of one stream: chunks faded at their edges with
 * pauses between them, time-stretched, encoded. Every call returns the bytes it completed (the first ones carry
 * the header and audio together, so a client's first bytes are already sound). For the formats ffmpeg encodes, it
 * makes the 16-bit PCM that ffmpeg reads.
 */
export class AudioStitcher {
  private readonly encoder: AudioStreamEncoder;
  private readonly stretcher: TimeStretcher | undefined;
  /** The newest samples of the current chunk, held back to fade them out when the chunk ends. */
  private held = new Float32Array(0);
  private chunkStart = true;
  private started = false;
  /** Samples encoded so far (after the time-stretch): what the stored file will hold. */
  samples = 0;

  constructor(format: StreamFormat, speed: number) {
    this.encoder = createStreamEncoder(format, { sampleRate: SAMPLE_RATE, bitrateKbps: MP3_KBPS });
    this.stretcher = speed === 1 ? undefined : createTimeStretcher(SAMPLE_RATE, speed);
  }

  /** Audio of the current text chunk, in order. */
  write(samples: Float32Array): Uint8Array {
    let audio = concatSamples([this.held, samples]);
    if (this.chunkStart && audio.length > 0) {
      audio = fade(audio, "in");
      this.chunkStart = false;
    }
    const keep = Math.min(EDGE_FADE_SAMPLES, audio.length);
    this.held = audio.slice(audio.length - keep);
    return this.emit(audio.subarray(0, audio.length - keep));
  }

  /** The current text chunk is complete: fade its end, then `pauseMs` of silence before the next one. */
  endChunk(pauseMs: number): Uint8Array {
    const faded = this.emit(fade(this.held, "out"));
    this.held = new Float32Array(0);
    this.chunkStart = true;
    return concatBytes([faded, this.emit(new Float32Array(Math.round((pauseMs / 1000) * SAMPLE_RATE)))]);
  }

  /** The last bytes: the stretcher's and the encoder's tails (and a header, for a stream without audio). */
  finish(): Uint8Array {
    const parts = [this.held.length > 0 ? this.endChunk(0) : new Uint8Array(0)];
    if (this.stretcher) parts.push(this.encode(this.stretcher.flush()));
    if (!this.started) parts.push(this.encoder.start());
    this.started = true;
    parts.push(this.encoder.finish());
    return concatBytes(parts);
  }

  private emit(samples: Float32Array): Uint8Array {
    return this.encode(this.stretcher ? this.stretcher.push(samples) : samples);
  }

  private encode(samples: Float32Array): Uint8Array {
    if (samples.length === 0) return new Uint8Array(0);
    this.samples += samples.length;
    const header = this.started ? new Uint8Array(0) : this.encoder.start();
    this.started = true;
    return concatBytes([header, this.encoder.encode(samples)]);
  }
}

function fade(samples: Float32Array, direction: "in" | "out"): Float32Array {
  const out = samples.slice();
  const length = Math.min(EDGE_FADE_SAMPLES, out.length);
  for (let i = 0; i < length; i++) {
    const index = direction === "in" ? i : out.length - 1 - i;
    out[index]! *= (i + 0.5) / length;
  }
  return out;
}
