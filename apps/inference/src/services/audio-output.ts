import type { AudioFormat } from "@tts/api";
import { wavHeader } from "@tts/audio";

import { SAMPLE_RATE } from "../engine/contract";
import type { AudioMeta, ObjectWriter, StoredObject } from "../storage/storage";
import type { AudioEncoders, EncoderSession } from "./audio-encoders";
import { CONTENT_TYPES } from "./audio-formats";

/** Live readers take the data in pieces of at most this many bytes. */
const READ_PIECE = 64 * 1024;

/**
 * One job's audio on its way out: samples go to the encoder thread (stitching, time-stretch, encoding), and the
 * bytes that come back are appended to a storage writer, from which any number of live readers follow them.
 * Memory stays flat: the bytes live in the writer's file, not here.
 */
export class AudioOutput {
  private readonly session: EncoderSession;
  private ended = false;
  private failure: Error | undefined;
  private appending: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  /** Samples encoded so far (after any time-stretch): what the stored file will hold. */
  samples = 0;

  constructor(
    encoders: AudioEncoders,
    private readonly writer: ObjectWriter<AudioMeta>,
    readonly format: AudioFormat,
    speed: number,
    private readonly onFirstAudio: () => void = () => {},
  ) {
    let first = true;
    this.session = encoders.open(format, speed, {
      bytes: (bytes, samples) => {
        this.samples = samples;
        this.append(bytes, first && samples > 0);
        if (samples > 0) first = false;
      },
      failed: (error) => (this.failure ??= error),
    });
  }

  get contentType(): string {
    return CONTENT_TYPES[this.format];
  }

  /** Audio of the current text chunk, in order (its buffer is handed over). */
  write(samples: Float32Array): void {
    this.session.write(samples);
  }

  /** The current text chunk is complete: its end fades, then `pauseMs` of silence before the next one. */
  endChunk(pauseMs: number): void {
    this.session.endChunk(pauseMs);
  }

  /** Flushes the encoder and publishes the file: the bytes every live reader was sent. */
  /** Committed (the stored object is visible) or aborted: nothing more will be written. */
  get finished(): boolean {
    return this.ended;
  }

  async commit(meta: Omit<AudioMeta, "durationSeconds">): Promise<StoredObject<AudioMeta>> {
    await this.session.finish();
    await this.appending;
    if (this.failure !== undefined) throw this.failure;
    // A streamed WAV header says "unknown length"; the stored file gets the real sizes.
    const patches =
      this.format === "wav"
        ? [{ offset: 0, data: wavHeader(SAMPLE_RATE, "pcm16", this.writer.size - 44) }]
        : [];
    const stored = await this.writer.commit(
      { ...meta, durationSeconds: this.samples / SAMPLE_RATE },
      patches,
    );
    this.end();
    return stored;
  }

  async abort(reason: Error): Promise<void> {
    this.failure ??= reason;
    this.session.close();
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

  private append(bytes: Uint8Array, first: boolean): void {
    this.appending = this.appending.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await this.writer.append(bytes);
        if (first) this.onFirstAudio();
        this.wake();
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
        this.wake();
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
