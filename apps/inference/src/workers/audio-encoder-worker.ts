// The audio encoder thread: stitching, time-stretching and encoding (MP3 above all) cost CPU in proportion to
// the audio, so they run here, off the event loop that serves requests and health checks.
import { parentPort } from "node:worker_threads";

import { AudioStitcher } from "../services/audio-stitcher";
import type { EncoderReply, EncoderRequest } from "./audio-encoder-protocol";

const port = parentPort!;
const sessions = new Map<number, AudioStitcher>();

port.on("message", (message: EncoderRequest) => {
  try {
    if (message.type === "open") {
      sessions.set(message.session, new AudioStitcher(message.format, message.speed));
      return;
    }
    const stitcher = sessions.get(message.session);
    if (!stitcher) return; // closed meanwhile
    if (message.type === "close") return void sessions.delete(message.session);
    const bytes =
      message.type === "write"
        ? stitcher.write(message.samples)
        : message.type === "end-chunk"
          ? stitcher.endChunk(message.pauseMs)
          : stitcher.finish();
    const final = message.type === "finish";
    if (final) sessions.delete(message.session);
    const reply: EncoderReply = {
      type: "bytes",
      session: message.session,
      bytes,
      samples: stitcher.samples,
      final,
    };
    port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  } catch (error) {
    sessions.delete(message.session);
    const reply: EncoderReply = {
      type: "error",
      session: message.session,
      message: error instanceof Error ? error.message : String(error),
    };
    port.postMessage(reply);
  }
});
