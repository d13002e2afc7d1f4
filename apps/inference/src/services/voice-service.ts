import { ServiceError, type Voice, type VoiceService } from "@tts/api";
import { AudioError, prepareReferenceClip, type ReferenceClip } from "@tts/audio";

import { newId, requireId } from "../storage/ids";
import type { Collection, StoredObject, VoiceMeta } from "../storage/storage";
import { isOwner, storageFailure } from "./ownership";

export interface VoiceServiceOptions {
  voices: Collection<VoiceMeta>;
  maxUploadBytes: number;
  /** Voices one principal may keep; uploads past it get 403 until one is deleted. */
  maxVoicesPerOwner: number;
  /** How long a voice is kept after its upload; null keeps it until deleted. */
  retentionMs: number | null;
  /** Voices every principal may synthesize with (operator aliases), though only their owner lists or edits them. */
  sharedIds?: ReadonlySet<string>;
  /** Decodes and prepares an upload; the node runs it off the event loop (default: here, synchronously). */
  prepare?: (bytes: Uint8Array) => Promise<ReferenceClip>;
}

export interface VoiceLibrary extends VoiceService {
  /** Resolves when `owner` may synthesize with the voice (its own, or a shared one); 404 otherwise. */
  checkUsable(owner: string, id: string): Promise<void>;
  /** The prepared 24 kHz clip of a stored voice, for the engine (access was checked when the job was made). */
  samples(id: string): Promise<Float32Array>;
}

function toVoice(stored: StoredObject<VoiceMeta>): Voice {
  const { name, durationSeconds, sampleRate } = stored.meta;
  return { id: stored.id, name, durationSeconds, sampleRate, createdAt: stored.createdAt };
}

const notFound = (id: string) => new ServiceError("NOT_FOUND", `No voice with id ${id}.`);
const checkId = (id: string) => requireId("voice", id);

/**
 * Voices: uploads are decoded and prepared once (trim, 24 kHz, loudness) and stored ready for the model. Each
 * belongs to the principal that uploaded it: others get 404, as for an id that never existed.
 */
export function createVoiceService({
  voices,
  maxUploadBytes,
  maxVoicesPerOwner,
  retentionMs,
  sharedIds = new Set(),
  prepare = (bytes) => Promise.resolve(prepareReferenceClip(bytes)),
}: VoiceServiceOptions): VoiceLibrary {
  /** Uploads being prepared per owner: they count against the quota before they are stored. */
  const pending = new Map<string, number>();
  const owned = async (owner: string, id: string) => {
    const stored = await voices.get(checkId(id));
    if (!stored || !isOwner(stored.meta, owner)) throw notFound(id);
    return stored;
  };
  const countOwned = async (owner: string) =>
    (await voices.list()).filter((voice) => isOwner(voice.meta, owner)).length + (pending.get(owner) ?? 0);

  async function store(owner: string, name: string, file: Blob): Promise<Voice> {
    let clip;
    try {
      clip = await prepare(new Uint8Array(await file.arrayBuffer()));
    } catch (error) {
      if (error instanceof AudioError)
        throw new ServiceError("BAD_REQUEST", `${error.message} (${error.code})`);
      throw error;
    }
    const data = new Uint8Array(clip.samples.buffer, clip.samples.byteOffset, clip.samples.byteLength);
    const meta = {
      owner,
      name,
      durationSeconds: clip.durationSeconds,
      sampleRate: clip.sampleRate,
      sourceSampleRate: clip.source.sampleRate,
      sourceChannels: clip.source.channels,
    };
    const voice = await voices.put(newId("voice"), data, meta, { ttlMs: retentionMs }).catch((error) => {
      throw storageFailure(error, "the voice was not saved");
    });
    return toVoice(voice);
  }

  return {
    async create(owner, { name, file }) {
      if (file.size > maxUploadBytes) {
        throw new ServiceError(
          "PAYLOAD_TOO_LARGE",
          `The upload is ${file.size} bytes; the limit is ${maxUploadBytes}.`,
        );
      }
      if ((await countOwned(owner)) >= maxVoicesPerOwner) {
        throw new ServiceError(
          "FORBIDDEN",
          `You have ${maxVoicesPerOwner} voices, the most this server keeps per key; delete one to add another.`,
        );
      }
      pending.set(owner, (pending.get(owner) ?? 0) + 1);
      try {
        return await store(owner, name, file);
      } finally {
        const left = (pending.get(owner) ?? 1) - 1;
        if (left > 0) pending.set(owner, left);
        else pending.delete(owner);
      }
    },
    list: async (owner) => (await voices.list()).filter((voice) => isOwner(voice.meta, owner)).map(toVoice),
    get: async (owner, id) => toVoice(await owned(owner, id)),
    async rename(owner, id, name) {
      await owned(owner, id);
      const updated = await voices
        .updateMeta(checkId(id), (meta) => ({ ...meta, name }))
        .catch((error: unknown) => {
          throw storageFailure(error, "the voice was not renamed");
        });
      if (!updated) throw notFound(id);
      return toVoice(updated);
    },
    async delete(owner, id) {
      await owned(owner, id);
      if (!(await voices.delete(checkId(id)))) throw notFound(id);
    },
    async checkUsable(owner, id) {
      if (sharedIds.has(checkId(id)) && (await voices.get(id))) return;
      await owned(owner, id);
    },
    async samples(id) {
      const bytes = await voices.read(checkId(id));
      if (!bytes) throw notFound(id);
      // Copy into an aligned buffer: storage hands back bytes at any offset.
      return new Float32Array(bytes.slice().buffer);
    },
  };
}
