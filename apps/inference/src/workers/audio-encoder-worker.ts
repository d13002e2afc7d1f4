// The audio encoder thread: stitching, time-stretching and encoding (MP3 above all) cost CPU in proportion to
// the audio, so they run here, off the event loop that serves requests and health checks; so does preparing
// uploaded voice clips (decode, resample, loudness). Formats packages/audio
// cannot encode go through an ffmpeg child process per session, driven from here.
import { parentPort, workerData } from "node:worker_threads";

import { AudioError, prepareReferenceClip } from "@tts/audio";

import { isFfmpegFormat } from "../services/audio-formats";
import { AudioStitcher } from "../services/audio-stitcher";
import type { EncoderReply, EncoderRequest, EncoderWorkerData } from "./audio-encoder-protocol";
import { FfmpegEncoder } from "./ffmpeg-encoder";
import { inProcessEncoder, type SessionEncoder, type SessionOutput } from "./session-encoder";

const port = parentPort!;
const { ffmpeg } = workerData as EncoderWorkerData;
const sessions = new Map<number, SessionEncoder>();

/** Posts a session's replies; its last one (final or error) forgets the session. */
function output(session: number): SessionOutput {
  return {
    bytes: (bytes, samples, final) => {
      if (final) sessions.delete(session);
      const reply: EncoderReply = { type: "bytes", session, bytes, samples, final };
      port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
    },
    failed: (message) => {
      sessions.delete(session);
      const reply: EncoderReply = { type: "error", session, message };
      port.postMessage(reply);
    },
  };
}

function prepareClip({ request, bytes, options }: Extract<EncoderRequest, { type: "prepare-clip" }>): void {
  let reply: EncoderReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const clip = prepareReferenceClip(bytes, options);
    // A view of a larger buffer would carry (and detach) all of it: send exactly the samples.
    const whole = clip.samples.byteOffset === 0 && clip.samples.byteLength === clip.samples.buffer.byteLength;
    const samples = whole ? clip.samples : clip.samples.slice();
    reply = { type: "clip", request, clip: { ...clip, samples } };
    transfer = [samples.buffer as ArrayBuffer];
  } catch (error) {
    reply = {
      type: "clip-error",
      request,
      message: error instanceof Error ? error.message : String(error),
      code: error instanceof AudioError ? error.code : undefined,
    };
  }
  port.postMessage(reply, transfer);
}

port.on("message", (message: EncoderRequest) => {
  if (message.type === "prepare-clip") return prepareClip(message);
  const { session } = message;
  try {
    if (message.type === "open") {
      const { format, speed } = message;
      sessions.set(
        session,
        isFfmpegFormat(format)
          ? new FfmpegEncoder(ffmpeg, format, speed, output(session))
          : inProcessEncoder(new AudioStitcher(format, speed), output(session)),
      );
      return;
    }
    const encoder = sessions.get(session);
    if (!encoder) return; // closed or failed meanwhile
    switch (message.type) {
      case "write":
        return encoder.write(message.samples);
      case "end-chunk":
        return encoder.endChunk(message.pauseMs);
      case "finish":
        return encoder.finish();
      case "close":
        sessions.delete(session);
        return encoder.close();
    }
  } catch (error) {
    sessions.get(session)?.close();
    output(session).failed(error instanceof Error ? error.message : String(error));
  }
});
