import { mapPool } from "../fs/pool";
import type { Collection, Storage } from "./storage";

export interface CopyReport {
  copied: number;
  /** Already in the target with the same size and creation time (a copy run again). */
  skipped: number;
}

/** Copies at once per collection: each holds one object's bytes in memory. */
const COPY_CONCURRENCY = 4;

async function copyCollection<M>(from: Collection<M>, to: Collection<M>, report: CopyReport): Promise<void> {
  await mapPool(await from.list(), COPY_CONCURRENCY, async (object) => {
    const present = await to.get(object.id);
    if (present && present.size === object.size && present.createdAt === object.createdAt) {
      report.skipped++;
      return;
    }
    const data = await from.read(object.id);
    if (!data) return; // expired or deleted since it was listed
    const ttlMs = object.expiresAt === null ? null : object.expiresAt - object.createdAt;
    await to.put(object.id, data, object.meta, { createdAt: object.createdAt, ttlMs });
    report.copied++;
  });
}

/**
 * Copies every visible voice and audio result from one storage to another (e.g. a DATA_DIR folder into the S3
 * bucket that several nodes will share), keeping ids, metadata, creation times and expiry. Safe to run again:
 * what is already there is skipped. The source is left as it is.
 */
export async function copyStorage(
  from: Storage,
  to: Storage,
): Promise<{ voices: CopyReport; audio: CopyReport }> {
  const voices = { copied: 0, skipped: 0 };
  const audio = { copied: 0, skipped: 0 };
  await copyCollection(from.voices, to.voices, voices);
  await copyCollection(from.audio, to.audio, audio);
  return { voices, audio };
}
