import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";

import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";

import { createKeyedLock } from "../fs/key-lock";
import { mapPool } from "../fs/pool";
import { assertValidId } from "./ids";
import {
  checkRange,
  checkTtl,
  decodeObject,
  encodeObject,
  isExpired,
  sweepEvery,
  sweepInTurn,
} from "./object-codec";
import type {
  AudioMeta,
  ByteRange,
  Collection,
  JobRecord,
  ObjectWriter,
  PutOptions,
  Storage,
  StoredObject,
  VoiceMeta,
} from "./storage";

export interface S3StorageOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix inside the bucket (e.g. `tts/`), so one bucket can hold several deployments. */
  prefix?: string;
  /** Lifetime of audio results unless `put` says otherwise. */
  audioTtlMs?: number;
  sweepIntervalMs?: number;
  now?: () => number;
  onSweepError?: (error: unknown) => void;
  /** Where writers spool what they stream before it is uploaded at commit (default: the OS temp dir). */
  spoolDir?: string;
}

/**
 * A client from the SDK's usual configuration (region and credentials from the environment or the task role);
 * with `endpoint`, one for an S3-compatible server (path-style, and checksums only where the API requires them,
 * which older servers understand).
 */
export function s3Client({ endpoint, region }: { endpoint?: string; region?: string }): S3Client {
  if (!endpoint) return new S3Client(region ? { region } : {});
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: region ?? "us-east-1",
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** Data objects no metadata points to (a crash between the two uploads) are removed once older than this. */
const ORPHAN_AGE_MS = 3_600_000;
/** Metadata reads in flight at once when listing. */
const LIST_CONCURRENCY = 16;

/**
 * Layout: `{prefix}{voices|audio|jobs}/{id}.json` (the StoredObject plus `rev`) and `{prefix}{voices|audio}/{id}/{rev}`
 * (its data). A put uploads data under a new rev, then the metadata that names it: the metadata is the commit
 * point, so readers always pair an object's metadata with its own bytes, and a replaced or interrupted upload
 * leaves only unreferenced data that the sweep removes. Several nodes may share the bucket; writes of one id from
 * two nodes at once end last-writer-wins.
 */
export async function createS3Storage({
  client,
  bucket,
  prefix = "",
  audioTtlMs = 3_600_000,
  sweepIntervalMs = 60_000,
  now = Date.now,
  onSweepError = () => {},
  spoolDir,
}: S3StorageOptions): Promise<Storage> {
  checkTtl(audioTtlMs);
  if (!(sweepIntervalMs > 0))
    throw new RangeError(`sweepIntervalMs must be positive, got ${sweepIntervalMs}`);
  const spool = await mkdtemp(path.join(spoolDir ?? tmpdir(), "tts-s3-spool-"));
  const s3 = new S3Objects(client, bucket);
  const voices = createS3Collection<VoiceMeta>(s3, `${prefix}voices/`, null, now, spool);
  const audio = createS3Collection<AudioMeta>(s3, `${prefix}audio/`, audioTtlMs, now, spool);
  const jobs = createS3Collection<JobRecord>(s3, `${prefix}jobs/`, audioTtlMs, now, spool);
  const sweepAll = sweepInTurn(voices, audio, jobs);
  await sweepAll();
  const sweeping = sweepEvery(sweepIntervalMs, sweepAll, onSweepError);
  return {
    voices,
    audio,
    jobs,
    async close() {
      await sweeping.stop();
      await rm(spool, { recursive: true, force: true });
    },
  };
}

/** The few S3 calls the driver makes, with "no such key" as null. */
class S3Objects {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array | Readable, length: number): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: length }),
    );
  }

  /** The body as a stream, or null when the key does not exist. */
  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range && { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      return response.Body as Readable;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === "NoSuchKey") return null;
      throw error;
    }
  }

  async bytes(key: string, range?: ByteRange): Promise<Uint8Array | null> {
    const body = await this.get(key, range);
    if (!body) return null;
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part as Buffer);
    return new Uint8Array(Buffer.concat(parts));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Every key under `prefix`, with when it was last written. */
  async list(prefix: string): Promise<{ key: string; modifiedAt: number }[]> {
    const keys: { key: string; modifiedAt: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? [])
        if (item.Key) keys.push({ key: item.Key, modifiedAt: item.LastModified?.getTime() ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
}

type Published<M> = StoredObject<M> & { rev: string };

function createS3Collection<M>(
  s3: S3Objects,
  dir: string,
  defaultTtlMs: number | null,
  now: () => number,
  spool: string,
): Collection<M> {
  const exclusive = createKeyedLock();
  const metaKey = (id: string) => `${dir}${id}.json`;
  const dataKey = (id: string, rev: string) => `${dir}${id}/${rev}`;
  const newRev = () => `${now()}-${randomBytes(6).toString("hex")}`;

  /** The published object, expired or not; null when there is none (or its metadata is corrupt). */
  const readPublished = async (id: string): Promise<Published<M> | null> => {
    const bytes = await s3.bytes(metaKey(id));
    if (!bytes) return null;
    const text = new TextDecoder().decode(bytes);
    const object = decodeObject<M>(id, text);
    const rev = (JSON.parse(text) as { rev?: unknown }).rev;
    return object && typeof rev === "string" ? { ...object, rev } : null;
  };
  const readVisible = async (id: string) => {
    const object = await readPublished(id);
    return object && !isExpired(object, now()) ? object : null;
  };
  const visible = ({ rev: _rev, ...object }: Published<M>): StoredObject<M> => object;
  const writeMeta = async (object: StoredObject<M>, rev: string) => {
    const json = new TextEncoder().encode(encodeObject(visible({ ...object, rev }), { rev }));
    await s3.put(metaKey(object.id), json, json.length);
  };

  /** Makes `object` (whose data is already under `rev`) the published one, then drops the data it replaces. */
  const publish = (object: StoredObject<M>, rev: string) =>
    exclusive(object.id, async () => {
      const previous = await readPublished(object.id);
      await writeMeta(object, rev);
      if (previous && previous.rev !== rev) await s3.delete(dataKey(object.id, previous.rev));
      return object;
    });

  const stored = (id: string, meta: M, size: number, options: PutOptions): StoredObject<M> => {
    const ttlMs = options.ttlMs === undefined ? defaultTtlMs : options.ttlMs;
    checkTtl(ttlMs);
    const createdAt = options.createdAt ?? now();
    return { id, meta, size, createdAt, expiresAt: ttlMs === null ? null : createdAt + ttlMs };
  };

  /**
   * Where `range` of a visible object's data is: its data key and the range clamped to its size (null span: no
   * bytes, e.g. an empty object); null when there is no visible object.
   */
  const locate = async (id: string, range: ByteRange | undefined) => {
    assertValidId(id);
    checkRange(range);
    const object = await readVisible(id);
    if (!object) return null;
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? object.size - 1, object.size - 1);
    return { key: dataKey(id, object.rev), span: start > end ? null : { start, end } };
  };

  const collection: Collection<M> = {
    async put(id, data, meta, options = {}) {
      assertValidId(id);
      const object = stored(id, meta, data.byteLength, options);
      const rev = newRev();
      await s3.put(dataKey(id, rev), data, data.byteLength);
      return publish(object, rev);
    },

    async createWriter(id) {
      assertValidId(id);
      const file = path.join(spool, `${id}-${randomBytes(6).toString("hex")}`);
      const handle: FileHandle = await open(file, "w+");
      let size = 0;
      let settled: "committed" | "aborted" | null = null;
      // Appends, commit and abort run in call order; reads may run beside them.
      let queue: Promise<unknown> = Promise.resolve();
      const enqueue = <T>(task: () => Promise<T>): Promise<T> => {
        const result = queue.then(task);
        queue = result.catch(() => undefined);
        return result;
      };
      const finish = async (state: "committed" | "aborted") => {
        settled = state;
        await handle.close();
        await rm(file, { force: true });
      };
      const writer: ObjectWriter<M> = {
        get size() {
          return size;
        },
        append: (data) =>
          enqueue(async () => {
            if (settled) throw new Error(`The writer for ${id} is already ${settled}.`);
            await handle.write(data, 0, data.byteLength, size);
            size += data.byteLength;
          }),
        read: async (start, end) => {
          const length = Math.max(0, Math.min(end, size) - start);
          if (length === 0) return new Uint8Array(0);
          // Committed: followers read the rest from the published object.
          if (settled === "committed")
            return (await collection.read(id, { start, end: start + length - 1 })) ?? new Uint8Array(0);
          const bytes = new Uint8Array(length);
          const { bytesRead } = await handle.read(bytes, 0, length, start);
          return bytes.subarray(0, bytesRead);
        },
        commit: (meta, patches = [], options = {}) =>
          enqueue(async () => {
            for (const patch of patches)
              await handle.write(patch.data, 0, patch.data.byteLength, patch.offset);
            await handle.sync();
            const object = stored(id, meta, size, options);
            const rev = newRev();
            await s3.put(
              dataKey(id, rev),
              createReadStream(file, { start: 0, end: Math.max(0, size - 1) }),
              size,
            );
            const published = await publish(object, rev);
            await finish("committed");
            return published;
          }),
        abort: () => enqueue(() => finish("aborted")),
      };
      return writer;
    },

    async get(id) {
      assertValidId(id);
      const object = await readVisible(id);
      return object && visible(object);
    },

    async read(id, range) {
      const located = await locate(id, range);
      if (!located) return null;
      return located.span ? s3.bytes(located.key, located.span) : new Uint8Array(0);
    },

    async stream(id, range) {
      const located = await locate(id, range);
      if (!located) return null;
      return located.span ? s3.get(located.key, located.span) : Readable.from([]);
    },

    async updateMeta(id, update) {
      assertValidId(id);
      return exclusive(id, async () => {
        const object = await readVisible(id);
        if (!object) return null;
        const next: Published<M> = { ...object, meta: update(object.meta) };
        await writeMeta(next, next.rev);
        return visible(next);
      });
    },

    async delete(id) {
      assertValidId(id);
      return exclusive(id, async () => {
        const object = await readVisible(id);
        if (!object) return false;
        await s3.delete(metaKey(id));
        await s3.delete(dataKey(id, object.rev));
        return true;
      });
    },

    async list() {
      const keys = await s3.list(dir);
      const ids = keys
        .map(({ key }) => key.slice(dir.length))
        .filter((name) => name.endsWith(".json"))
        .map((name) => name.slice(0, -".json".length));
      const objects = await mapPool(ids, LIST_CONCURRENCY, (id) => readVisible(id));
      return objects
        .filter((object): object is Published<M> => object !== null)
        .map(visible)
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    },

    async sweep(at = now()) {
      const keys = await s3.list(dir);
      const referenced = new Set<string>();
      let expired = 0;
      for (const { key } of keys) {
        if (!key.endsWith(".json")) continue;
        const id = key.slice(dir.length, -".json".length);
        const object = await readPublished(id);
        if (!object) continue;
        if (isExpired(object, at)) {
          await exclusive(id, async () => {
            await s3.delete(metaKey(id));
            await s3.delete(dataKey(id, object.rev));
          });
          expired++;
        } else referenced.add(dataKey(id, object.rev));
      }
      // Data without metadata: a put interrupted between its two uploads, or data a newer put replaced.
      for (const { key, modifiedAt } of keys)
        if (!key.endsWith(".json") && !referenced.has(key) && at - modifiedAt > ORPHAN_AGE_MS)
          await s3.delete(key);
      return expired;
    },
  };
  return collection;
}
