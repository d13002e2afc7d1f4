import { isMarkedAsUntransferable, type Worker } from "node:worker_threads";

import type { AudioFormat } from "@tts/api";
import { AudioError, type ReferenceClip, type ReferenceClipOptions } from "@tts/audio";

import type { EncoderReply, EncoderRequest, EncoderWorkerData } from "../workers/audio-encoder-protocol";
import { spawnWorker } from "../workers/spawn-worker";

/** Where a session's bytes go, in order. */
export interface EncoderSink {
  /** `samples`: audio samples encoded so far in this session. */
  bytes(bytes: Uint8Array, samples: number): void;
  failed(error: Error): void;
}

/** One job's stream on the encoder thread (see AudioStitcher for what each call does there). */
export interface EncoderSession {
  write(samples: Float32Array): void;
  endChunk(pauseMs: number): void;
  /** Resolves once the last bytes have reached the sink. */
  finish(): Promise<void>;
  /** Drops the session (a failed or cancelled job). */
  close(): void;
}

interface SessionState {
  sink: EncoderSink;
  finished?: { resolve: () => void; reject: (error: Error) => void };
  /** Why it failed, for a `finish` asked for after that (its worker side is gone and will never answer). */
  failure?: Error;
}

/** A voice clip ready for the model: what `prepareReferenceClip` of @tts/audio returns. */
export type PreparedClip = ReferenceClip;

interface ClipRequest {
  resolve: (clip: PreparedClip) => void;
  reject: (error: Error) => void;
}

/** The node's audio encoder thread, started on first use and again after a crash. */
export class AudioEncoders {
  private worker: Worker | undefined;
  private readonly sessions = new Map<number, SessionState>();
  private nextSession = 1;
  private readonly clips = new Map<number, ClipRequest>();
  private nextClip = 1;

  /** `ffmpeg`: the command that encodes opus, aac and flac. */
  constructor(private readonly ffmpeg = "ffmpeg") {}

  open(format: AudioFormat, speed: number, sink: EncoderSink): EncoderSession {
    const session = this.nextSession++;
    const state: SessionState = { sink };
    this.sessions.set(session, state);
    this.post({ type: "open", session, format, speed });
    return {
      write: (samples) => this.post({ type: "write", session, samples }, [samples.buffer as ArrayBuffer]),
      endChunk: (pauseMs) => this.post({ type: "end-chunk", session, pauseMs }),
      finish: () =>
        state.failure
          ? Promise.reject(state.failure)
          : new Promise((resolve, reject) => {
              state.finished = { resolve, reject };
              this.post({ type: "finish", session });
            }),
      close: () => {
        if (this.sessions.delete(session)) this.post({ type: "close", session });
      },
    };
  }

  /**
   * `prepareReferenceClip` (decode, trim, 24 kHz, loudness) on the encoder thread, off the event loop. The bytes'
   * buffer is handed over (detached) when they span all of it, else copied. Refused audio rejects with an
   * AudioError of the same code and message as the synchronous function's.
   */
  prepareReferenceClip(bytes: Uint8Array, options?: ReferenceClipOptions): Promise<PreparedClip> {
    const request = this.nextClip++;
    const { buffer } = bytes;
    const whole =
      buffer instanceof ArrayBuffer &&
      !isMarkedAsUntransferable(buffer) &&
      bytes.byteOffset === 0 &&
      bytes.byteLength === buffer.byteLength;
    const sent = whole ? bytes : bytes.slice();
    return new Promise((resolve, reject) => {
      this.clips.set(request, { resolve, reject });
      this.post({ type: "prepare-clip", request, bytes: sent, options }, [sent.buffer as ArrayBuffer]);
    });
  }

  /** Starts the thread and the MP3 encoder once, so the first real stream does not pay for it. */
  async warmUp(): Promise<void> {
    const session = this.open("mp3", 1, { bytes: () => {}, failed: () => {} });
    session.write(new Float32Array(2304));
    await session.finish();
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failClips(new Error("The audio encoder thread was closed."));
    // It never runs native inference, so ending it from outside is safe.
    await worker?.terminate();
  }

  private post(message: EncoderRequest, transfer: ArrayBuffer[] = []): void {
    this.ensureWorker().postMessage(message, transfer);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const workerData: EncoderWorkerData = { ffmpeg: this.ffmpeg };
    const worker = spawnWorker(
      "audio-encoder-worker",
      new URL("../workers/audio-encoder-worker.ts", import.meta.url),
      { workerData },
    );
    worker.unref();
    worker.on("message", (reply: EncoderReply) => this.onReply(reply));
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const [session, state] of this.sessions) this.failSession(session, state, error);
      this.failClips(error);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`The audio encoder thread exited (code ${code}).`)));
    this.worker = worker;
    return worker;
  }

  private onReply(reply: EncoderReply): void {
    if (reply.type === "clip" || reply.type === "clip-error") return this.onClip(reply);
    const state = this.sessions.get(reply.session);
    if (!state) return;
    if (reply.type === "error") return this.failSession(reply.session, state, new Error(reply.message));
    if (reply.bytes.length > 0) state.sink.bytes(reply.bytes, reply.samples);
    if (reply.final) {
      this.sessions.delete(reply.session);
      state.finished?.resolve();
    }
  }

  private onClip(reply: Extract<EncoderReply, { type: "clip" | "clip-error" }>): void {
    const pending = this.clips.get(reply.request);
    this.clips.delete(reply.request);
    if (reply.type === "clip") pending?.resolve(reply.clip);
    // An AudioError crosses the thread as plain data: rebuild it so callers can still map it to a 400.
    else pending?.reject(reply.code ? new AudioError(reply.code, reply.message) : new Error(reply.message));
  }

  private failClips(error: Error): void {
    for (const pending of this.clips.values()) pending.reject(error);
    this.clips.clear();
  }

  private failSession(session: number, state: SessionState, error: Error): void {
    this.sessions.delete(session);
    state.failure = error;
    state.sink.failed(error);
    state.finished?.reject(error);
  }
}
