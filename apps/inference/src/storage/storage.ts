/**
 * The storage driver contract shared by the file-system driver (one machine) and the S3 driver (many machines
 * behind a load balancer): nothing here assumes paths, file handles or a single process.
 */
import type { AudioFormat, Job } from "@tts/api";

/**
 * Records carry the principal that created them, so ownership travels with the data to shared storage.
 * Records written before ownership existed have none and belong to the keyless local user.
 */
interface Owned {
  owner?: string;
}

export interface VoiceMeta extends Owned {
  name: string;
  durationSeconds: number;
  sampleRate: number;
  sourceSampleRate: number;
  sourceChannels: number;
}

export interface AudioMeta extends Owned {
  text: string;
  voiceId: string | null;
  format: AudioFormat;
  contentType: string;
  durationSeconds: number;
  variant: string;
  seed: number;
  tokens: number;
  /** When the job was asked for (epoch ms); the stored object's createdAt is when it finished. Older records lack it. */
  requestedAt?: number;
}

/**
 * A job that has no stored audio yet (queued or running) or never will (failed, cancelled), shared so that any
 * node can answer for it: its state as callers see it, and the node that runs it. Finished jobs need no record:
 * their audio object says everything. The data of a record is empty; this metadata is the record.
 */
export interface JobRecord extends Owned {
  job: Job;
  /** The node running the job: its id for this process's lifetime, and where other nodes reach it. */
  node: { id: string; url: string | null };
  /** Refreshed while the job is queued or running; an old one means the node stopped without finishing it. */
  heartbeatAt: number;
}

/**
 * A write the storage cannot take: "full" when free space is below the reserve (checked before writing) or the
 * device ran out (ENOSPC, EDQUOT); "not-writable" for permission or read-only failures. Whatever failed, nothing
 * partial becomes visible.
 */
export class StorageWriteError extends Error {
  override name = "StorageWriteError";

  constructor(
    readonly kind: "full" | "not-writable",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface StoredObject<M> {
  id: string;
  meta: M;
  /** Bytes of data. */
  size: number;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds, or null for objects kept until deleted. */
  expiresAt: number | null;
}

/**
 * Byte range with an inclusive end, as in HTTP `Range: bytes=start-end`. An end past the last byte is clamped;
 * a start past it gives no bytes (callers answer 416 from `get().size` first).
 */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PutOptions {
  /** Lifetime from its creation; null keeps the object until deleted; omitted uses the collection's default. */
  ttlMs?: number | null;
  /** When the object was created (epoch ms), for copies between storages; default now. */
  createdAt?: number;
}

/**
 * An object written as it is produced (audio while it is generated). Nothing is visible under its id until
 * `commit`, which publishes the bytes written so far atomically; until then `read` serves them to live readers.
 */
export interface ObjectWriter<M> {
  /** Bytes appended so far (each append counts once it has been written). */
  readonly size: number;
  /** Appends in call order; resolves once these bytes can be read back. */
  append(data: Uint8Array): Promise<void>;
  /** Bytes [start, end) of what has been appended so far. */
  read(start: number, end: number): Promise<Uint8Array>;
  /** Overwrites bytes already written (e.g. a header whose sizes are known only at the end), then publishes. */
  commit(
    meta: M,
    patches?: { offset: number; data: Uint8Array }[],
    options?: PutOptions,
  ): Promise<StoredObject<M>>;
  /** Discards what was written; the id stays as it was. */
  abort(): Promise<void>;
}

/**
 * Every method rejects with InvalidIdError before touching storage when the id does not match ID_PATTERN.
 * Expired objects are invisible to get/read/stream/list/updateMeta even before a sweep removes them.
 */
export interface Collection<M> {
  /** Atomic: readers see the old object or the new one, never a partial write. Last writer wins. */
  put(id: string, data: Uint8Array, meta: M, options?: PutOptions): Promise<StoredObject<M>>;
  /** A streaming writer for `id` (see ObjectWriter). */
  createWriter(id: string): Promise<ObjectWriter<M>>;
  /** Metadata only. */
  get(id: string): Promise<StoredObject<M> | null>;
  read(id: string, range?: ByteRange): Promise<Uint8Array | null>;
  /** For HTTP bodies (Range support); the caller consumes or destroys the stream. */
  stream(id: string, range?: ByteRange): Promise<NodeJS.ReadableStream | null>;
  /** Atomic read-modify-write of the metadata (e.g. renaming a voice); data, size and expiry are kept. */
  updateMeta(id: string, update: (meta: M) => M): Promise<StoredObject<M> | null>;
  /** True when a visible object was deleted. */
  delete(id: string): Promise<boolean>;
  /** Newest first. */
  list(): Promise<StoredObject<M>[]>;
  /** Deletes expired objects (and leftovers of interrupted writes); returns how many objects expired. */
  sweep(now?: number): Promise<number>;
}

export interface Storage {
  voices: Collection<VoiceMeta>;
  audio: Collection<AudioMeta>;
  jobs: Collection<JobRecord>;
  /** Stops background work; pending operations finish. */
  close(): Promise<void>;
}
