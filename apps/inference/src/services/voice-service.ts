import { ServiceError, type Voice, type VoiceService } from "@tts/api";
import { AudioError, prepareReferenceClip } from "@tts/audio";

import { newId, requireId } from "../storage/ids";
import type { Collection, StoredObject, VoiceMeta } from "../storage/storage";

export interface VoiceServiceOptions {
  voices: Collection<VoiceMeta>;
  maxUploadBytes: number;
}

export interface VoiceLibrary extends VoiceService {
  /** The prepared 24 kHz clip of a stored voice, for the engine. */
  samples(id: string): Promise<Float32Array>;
}

function toVoice(stored: StoredObject<VoiceMeta>): Voice {
  const { name, durationSeconds, sampleRate } = stored.meta;
  return { id: stored.id, name, durationSeconds, sampleRate, createdAt: stored.createdAt };
}

const notFound = (id: string) => new ServiceError("NOT_FOUND", `No voice with id ${id}.`);
const checkId = (id: string) => requireId("voice", id);

/** Voices: uploads are decoded and prepared once (trim, 24 kHz, loudness) and stored ready for the model. */
export function createVoiceService({ voices, maxUploadBytes }: VoiceServiceOptions): VoiceLibrary {
  const stored = async (id: string) => (await voices.get(checkId(id))) ?? Promise.reject(notFound(id));
  return {
    async create({ name, file }) {
      if (file.size > maxUploadBytes) {
        throw new ServiceError(
          "PAYLOAD_TOO_LARGE",
          `The upload is ${file.size} bytes; the limit is ${maxUploadBytes}.`,
        );
      }
      let clip;
      try {
        clip = prepareReferenceClip(new Uint8Array(await file.arrayBuffer()));
      } catch (error) {
        if (error instanceof AudioError)
          throw new ServiceError("BAD_REQUEST", `${error.message} (${error.code})`);
        throw error;
      }
      const data = new Uint8Array(clip.samples.buffer, clip.samples.byteOffset, clip.samples.byteLength);
      const voice = await voices.put(newId("voice"), data, {
        name,
        durationSeconds: clip.durationSeconds,
        sampleRate: clip.sampleRate,
        sourceSampleRate: clip.source.sampleRate,
        sourceChannels: clip.source.channels,
      });
      return toVoice(voice);
    },
    list: async () => (await voices.list()).map(toVoice),
    get: async (id) => toVoice(await stored(id)),
    async rename(id, name) {
      const updated = await voices.updateMeta(checkId(id), (meta) => ({ ...meta, name }));
      if (!updated) throw notFound(id);
      return toVoice(updated);
    },
    async delete(id) {
      if (!(await voices.delete(checkId(id)))) throw notFound(id);
    },
    async samples(id) {
      const bytes = await voices.read(checkId(id));
      if (!bytes) throw notFound(id);
      // Copy into an aligned buffer: storage hands back bytes at any offset.
      return new Float32Array(bytes.slice().buffer);
    },
  };
}
