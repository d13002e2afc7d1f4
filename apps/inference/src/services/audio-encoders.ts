import type { Worker } from "node:worker_threads";

import type { AudioFormat } from "@tts/api";

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

/** The node's audio encoder thread, started on first use and again after a crash. */
export class AudioEncoders {
  private worker: Worker | undefined;
  private readonly sessions = new Map<number, SessionState>();
  private nextSession = 1;

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

  /** Starts the thread and the MP3 encoder once, so the first real stream does not pay for it. */
  async warmUp(): Promise<void> {
    const session = this.open("mp3", 1, { bytes: () => {}, failed: () => {} });
    session.write(new Float32Array(2304));
    await session.finish();
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
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
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`The audio encoder thread exited (code ${code}).`)));
    this.worker = worker;
    return worker;
  }

  private onReply(reply: EncoderReply): void {
    const state = this.sessions.get(reply.session);
    if (!state) return;
    if (reply.type === "error") return this.failSession(reply.session, state, new Error(reply.message));
    if (reply.bytes.length > 0) state.sink.bytes(reply.bytes, reply.samples);
    if (reply.final) {
      this.sessions.delete(reply.session);
      state.finished?.resolve();
    }
  }

  private failSession(session: number, state: SessionState, error: Error): void {
    this.sessions.delete(session);
    state.failure = error;
    state.sink.failed(error);
    state.finished?.reject(error);
  }
}
