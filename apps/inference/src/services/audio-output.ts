import type { AudioFormat } from "@tts/api";
import {
  concatBytes,
  createStreamEncoder,
  createTimeStretcher,
  wavHeader,
  type AudioStreamEncoder,
  type TimeStretcher,
} from "@tts/audio";

import { SAMPLE_RATE } from "../engine/contract";
import type { AudioMeta, ObjectWriter, StoredObject } from "../storage/storage";

const MP3_KBPS = 128;
/** Each text chunk's audio fades in and out over this long (5 ms), so pauses between chunks never click. */
const EDGE_FADE_SAMPLES = 120;
/** Live readers take the data in pieces of at most this many bytes. */
const READ_PIECE = 64 * 1024;

/**
 * One job's audio on its way out: text chunks' audio stitched with pauses between them, time-stretched,
 * encoded as it comes and appended to a storage writer, from which any number of live readers follow it.
 * Memory stays flat: the bytes live in the writer's file, not here.
 */
export class AudioOutput {
  private readonly encoder: AudioStreamEncoder;
  private readonly stretcher: TimeStretcher | undefined;
  /** The newest samples of the current chunk, held back to fade them out when the chunk ends. */
  private held = new Float32Array(0);
  private segmentStart = true;
  private started = false;
  private ended = false;
  private failure: Error | undefined;
  private appending: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  /** Samples encoded so far (after the time-stretch): what the stored file will hold. */
  samples = 0;

  constructor(
    private readonly writer: ObjectWriter<AudioMeta>,
    readonly format: AudioFormat,
    speed: number,
    private readonly onFirstAudio: () => void = () => {},
  ) {
    this.encoder = createStreamEncoder(format, { sampleRate: SAMPLE_RATE, bitrateKbps: MP3_KBPS });
    this.stretcher = speed === 1 ? undefined : createTimeStretcher(SAMPLE_RATE, speed);
  }

  get contentType(): string {
    return this.encoder.contentType;
  }

  /** Audio of the current text chunk, in order. */
  write(samples: Float32Array): void {
    let audio = concat(this.held, samples);
    if (this.segmentStart && audio.length > 0) {
      audio = fade(audio, "in");
      this.segmentStart = false;
    }
    const keep = Math.min(EDGE_FADE_SAMPLES, audio.length);
    this.held = audio.slice(audio.length - keep);
    this.emit(audio.subarray(0, audio.length - keep));
  }

  /** The current text chunk is complete: fade its end, then `pauseMs` of silence before the next one. */
  endChunk(pauseMs: number): void {
    this.emit(fade(this.held, "out"));
    this.held = new Float32Array(0);
    this.segmentStart = true;
    this.emit(new Float32Array(Math.round((pauseMs / 1000) * SAMPLE_RATE)));
  }

  /** Flushes the stretcher and the encoder and publishes the file: the bytes every live reader was sent. */
  async commit(meta: AudioMeta): Promise<StoredObject<AudioMeta>> {
    if (this.held.length > 0) this.endChunk(0);
    if (this.stretcher) this.encodeAndAppend(this.stretcher.flush());
    // Even a job without audio stores a playable (empty) file.
    if (!this.started) this.append(this.encoder.start());
    this.started = true;
    this.append(this.encoder.finish());
    await this.appending;
    if (this.failure !== undefined) throw this.failure;
    // A streamed WAV header says "unknown length"; the stored file gets the real sizes.
    const patches =
      this.format === "wav"
        ? [{ offset: 0, data: wavHeader(SAMPLE_RATE, "pcm16", this.writer.size - 44) }]
        : [];
    const stored = await this.writer.commit(meta, patches);
    this.end();
    return stored;
  }

  async abort(reason: Error): Promise<void> {
    this.failure ??= reason;
    this.end();
    await this.appending;
    await this.writer.abort();
  }

  /**
   * Every byte of the stream from the start, then each new one as it is written, until the output ends. What a
   * reader is sent is exactly what the stored file will hold (before the WAV size patch). Stops early when
   * `signal` aborts; throws if the output failed.
   */
  async *follow(signal?: AbortSignal): AsyncIterable<Uint8Array> {
    let offset = 0;
    while (!signal?.aborted) {
      // A failed output's bytes are discarded: stop at once rather than read what no longer exists.
      if (this.failure !== undefined) throw this.failure;
      const available = this.writer.size;
      if (offset < available) {
        const end = Math.min(available, offset + READ_PIECE);
        yield await this.writer.read(offset, end);
        offset = end;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.waiters.add(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }

  private emit(samples: Float32Array): void {
    if (samples.length === 0) return;
    this.encodeAndAppend(this.stretcher ? this.stretcher.push(samples) : samples);
  }

  private encodeAndAppend(samples: Float32Array): void {
    if (samples.length === 0) return;
    this.samples += samples.length;
    // The header goes out with the first samples, so a client's first bytes already carry audio.
    const header = this.started ? new Uint8Array(0) : this.encoder.start();
    const first = !this.started;
    this.started = true;
    this.append(concatBytes([header, this.encoder.encode(samples)]), first);
  }

  private append(bytes: Uint8Array, first = false): void {
    if (bytes.length === 0) return;
    this.appending = this.appending.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await this.writer.append(bytes);
        if (first) this.onFirstAudio();
        this.wake();
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
      }
    });
  }

  private end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

function fade(samples: Float32Array, direction: "in" | "out"): Float32Array {
  const out = samples.slice();
  const length = Math.min(EDGE_FADE_SAMPLES, out.length);
  for (let i = 0; i < length; i++) {
    const gain = (i + 0.5) / length;
    const index = direction === "in" ? i : out.length - 1 - i;
    out[index]! *= gain;
  }
  return out;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length === 0) return b;
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
