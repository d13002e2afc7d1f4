// The audio encoder thread: stitching, time-stretching and encoding (MP3 above all) cost CPU in proportion to
// the audio, so they run here, off the event loop that serves requests and health checks. Formats packages/audio
// cannot encode go through an ffmpeg child process per session, driven from here.
import { parentPort, workerData } from "node:worker_threads";

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

port.on("message", (message: EncoderRequest) => {
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
