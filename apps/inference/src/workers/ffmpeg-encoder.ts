import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

import { ffmpegArgs, type FfmpegFormat } from "../services/audio-formats";
import { AudioStitcher } from "../services/audio-stitcher";
import type { SessionEncoder, SessionOutput } from "./session-encoder";

/** How much of ffmpeg's stderr a failure quotes. */
const STDERR_TAIL = 1000;

/**
 * opus, aac and flac: the stitcher's 16-bit PCM goes to an ffmpeg child's stdin, and whatever ffmpeg writes to
 * stdout is sent on as it comes. The final reply waits for ffmpeg to exit 0, after its last bytes.
 */
export class FfmpegEncoder implements SessionEncoder {
  private readonly stitcher: AudioStitcher;
  private readonly child: ChildProcessWithoutNullStreams;
  /** PCM waiting for stdin to drain: requests arrive faster than ffmpeg may take them. */
  private readonly queue: Uint8Array[] = [];
  private blocked = false;
  private ending = false;
  private done = false;
  private stderr = "";

  constructor(
    ffmpeg: string,
    private readonly format: FfmpegFormat,
    speed: number,
    private readonly output: SessionOutput,
  ) {
    this.stitcher = new AudioStitcher("pcm", speed);
    const child = spawn(ffmpeg, ffmpegArgs(format));
    this.child = child;
    child.stdout.on("data", (bytes: Buffer) => {
      // A copy of its own, so it can be transferred: `bytes` may be a view of a larger read buffer.
      if (!this.done) output.bytes(new Uint8Array(bytes), this.stitcher.samples, false);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => (this.stderr = (this.stderr + text).slice(-STDERR_TAIL)));
    // A write after ffmpeg died fails with EPIPE; its exit, reported below, says why.
    child.stdin.on("error", () => {});
    child.stdin.on("drain", () => this.drain());
    child.on("error", (error) => this.fail(`ffmpeg could not run: ${error.message}`));
    // 'close' comes after stdout's last 'data'.
    child.on("close", (code, signal) => {
      if (code === 0 && this.ending && !this.done) {
        this.done = true;
        this.output.bytes(new Uint8Array(0), this.stitcher.samples, true);
      } else {
        const status = signal ? `was killed (${signal})` : `exited with code ${code}`;
        this.fail(`ffmpeg (${this.format}) ${status}: ${this.stderr.trim() || "no error output"}`);
      }
    });
  }

  write(samples: Float32Array): void {
    this.feed(this.stitcher.write(samples));
  }

  endChunk(pauseMs: number): void {
    this.feed(this.stitcher.endChunk(pauseMs));
  }

  finish(): void {
    this.feed(this.stitcher.finish());
    this.ending = true;
    if (!this.blocked) this.child.stdin.end();
  }

  close(): void {
    this.done = true;
    this.queue.length = 0;
    this.child.kill("SIGKILL");
  }

  private feed(pcm: Uint8Array): void {
    if (pcm.length === 0 || this.done) return;
    if (this.blocked) this.queue.push(pcm);
    else this.blocked = !this.child.stdin.write(pcm);
  }

  private drain(): void {
    this.blocked = false;
    while (!this.blocked && this.queue.length > 0)
      this.blocked = !this.child.stdin.write(this.queue.shift()!);
    if (!this.blocked && this.ending) this.child.stdin.end();
  }

  private fail(message: string): void {
    if (this.done) return;
    this.done = true;
    this.child.kill("SIGKILL");
    this.output.failed(message);
  }
}
