import { createHash } from "node:crypto";

/** Content hash of a prepared clip: the key its speech_encoder outputs are cached under. */
export function voiceKey(samples: Float32Array): string {
  return createHash("sha256")
    .update(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength))
    .digest("hex");
}
