// Objects and helpers for the storage drivers' tests (file system and S3).
import { randomBytes } from "node:crypto";

import type { AudioMeta, VoiceMeta } from "../../src/storage/storage";

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

export function voiceMeta(name: string): VoiceMeta {
  return { name, durationSeconds: 5, sampleRate: 24_000, sourceSampleRate: 44_100, sourceChannels: 2 };
}

export function audioMeta(text: string): AudioMeta {
  return {
    text,
    voiceId: null,
    format: "wav",
    contentType: "audio/wav",
    durationSeconds: 1.5,
    variant: "turbo",
    seed: 42,
    tokens: 37,
  };
}

export function bytes(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

export async function collect(stream: NodeJS.ReadableStream | null): Promise<Uint8Array | null> {
  if (!stream) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return new Uint8Array(Buffer.concat(chunks));
}
