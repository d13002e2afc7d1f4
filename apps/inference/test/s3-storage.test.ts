// The S3 storage driver against a real S3-compatible server process (s3rver from npm), started by the test.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { createFsStorage } from "../src/storage/fs-storage";
import { InvalidIdError, newId } from "../src/storage/ids";
import { createS3Storage, type S3StorageOptions } from "../src/storage/s3-storage";
import type { Storage } from "../src/storage/storage";
import { runCli } from "./support/cli";
import { startS3Server, type S3Server } from "./support/s3";
import { audioMeta, bytes, collect, manualClock, voiceMeta } from "./support/storage-fixtures";

let server: S3Server;
const opened: Storage[] = [];

beforeAll(async () => {
  server = await startS3Server();
});

afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
});

afterAll(async () => {
  await server?.stop();
});

/** Each test in its own prefix of the one bucket, as separate deployments would be. */
async function open(prefix: string, options: Partial<S3StorageOptions> = {}): Promise<Storage> {
  const storage = await createS3Storage({
    client: server.client(),
    bucket: server.bucket,
    prefix,
    ...options,
  });
  opened.push(storage);
  return storage;
}

async function keys(prefix: string): Promise<string[]> {
  const page = await server
    .client()
    .send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((item) => item.Key ?? "").sort();
}

describe("createS3Storage", () => {
  it("round-trips voices and audio: put, get, read, ranges, stream, list (newest first), rename, delete", async () => {
    const clock = manualClock();
    const storage = await open("roundtrip/", { now: clock.now });
    const voiceId = newId("voice");
    const data = bytes(70_000);
    const voice = await storage.voices.put(voiceId, data, voiceMeta("Ada"));
    expect(voice).toMatchObject({ id: voiceId, size: 70_000, expiresAt: null });
    expect(await storage.voices.get(voiceId)).toEqual(voice);
    expect(Buffer.from((await storage.voices.read(voiceId))!).equals(Buffer.from(data))).toBe(true);
    const range = { start: 1000, end: 1999 };
    expect(
      Buffer.from((await storage.voices.read(voiceId, range))!).equals(
        Buffer.from(data.subarray(1000, 2000)),
      ),
    ).toBe(true);
    expect(await collect(await storage.voices.stream(voiceId, range))).toEqual(data.subarray(1000, 2000));
    // An end past the last byte is clamped.
    expect((await storage.voices.read(voiceId, { start: 69_990, end: 99_999 }))?.length).toBe(10);

    clock.t += 1000;
    const audioId = newId("tts");
    await storage.audio.put(audioId, bytes(10), audioMeta("first"));
    clock.t += 1000;
    const laterId = newId("tts");
    await storage.audio.put(laterId, bytes(10), audioMeta("second"));
    expect((await storage.audio.list()).map((o) => o.id)).toEqual([laterId, audioId]);

    const renamed = await storage.voices.updateMeta(voiceId, (meta) => ({ ...meta, name: "Grace" }));
    expect(renamed?.meta.name).toBe("Grace");
    expect((await storage.voices.get(voiceId))?.meta.name).toBe("Grace");
    expect(Buffer.from((await storage.voices.read(voiceId))!).equals(Buffer.from(data))).toBe(true);

    expect(await storage.voices.delete(voiceId)).toBe(true);
    expect(await storage.voices.delete(voiceId)).toBe(false);
    expect(await storage.voices.get(voiceId)).toBeNull();
    expect(await storage.voices.read(voiceId)).toBeNull();
    expect(await keys("roundtrip/voices/")).toEqual([]);
  });

  it("replaces an object whole: readers get the new bytes, and the old data goes", async () => {
    const storage = await open("replace/");
    const id = newId("voice");
    await storage.voices.put(id, bytes(100), voiceMeta("old"));
    const fresh = bytes(50);
    await storage.voices.put(id, fresh, voiceMeta("new"));
    expect(await storage.voices.read(id)).toEqual(fresh);
    expect((await storage.voices.get(id))?.meta.name).toBe("new");
    // One metadata object and one data object: the replaced data was deleted.
    expect(await keys(`replace/voices/${id}`)).toHaveLength(2);
  });

  it("streams an object in with a writer: readable while written, invisible until committed, patchable", async () => {
    const storage = await open("writer/");
    const id = newId("tts");
    const writer = await storage.audio.createWriter(id);
    await writer.append(new Uint8Array([1, 2, 3, 4]));
    await writer.append(new Uint8Array([5, 6]));
    expect(writer.size).toBe(6);
    expect(await writer.read(2, 6)).toEqual(new Uint8Array([3, 4, 5, 6]));
    expect(await storage.audio.get(id)).toBeNull();
    expect(await keys("writer/")).toEqual([]);
    const stored = await writer.commit(audioMeta("streamed"), [{ offset: 0, data: new Uint8Array([9, 9]) }]);
    expect(stored.size).toBe(6);
    expect(await storage.audio.read(id)).toEqual(new Uint8Array([9, 9, 3, 4, 5, 6]));
    // A reader still following after the commit reads from the published object.
    expect(await writer.read(4, 6)).toEqual(new Uint8Array([5, 6]));

    const aborted = newId("tts");
    const other = await storage.audio.createWriter(aborted);
    await other.append(bytes(10));
    await other.abort();
    expect(await storage.audio.get(aborted)).toBeNull();
    expect((await keys("writer/")).filter((key) => key.includes(aborted))).toEqual([]);
  });

  it("hides expired audio at once, and the sweep deletes it; voices never expire", async () => {
    const clock = manualClock();
    const storage = await open("expiry/", { now: clock.now, audioTtlMs: 60_000 });
    const audioId = newId("tts");
    const voiceId = newId("voice");
    await storage.audio.put(audioId, bytes(10), audioMeta("short-lived"));
    await storage.voices.put(voiceId, bytes(10), voiceMeta("kept"));
    clock.t += 60_000;
    expect(await storage.audio.get(audioId)).toBeNull();
    expect(await storage.audio.read(audioId)).toBeNull();
    expect(await storage.audio.list()).toEqual([]);
    expect(await storage.audio.sweep()).toBe(1);
    expect(await keys("expiry/audio/")).toEqual([]);
    expect(await storage.voices.sweep()).toBe(0);
    expect((await storage.voices.get(voiceId))?.meta.name).toBe("kept");
  });

  it("sweeps data that no metadata names once it is an hour old (a put cut off between its uploads)", async () => {
    const storage = await open("orphans/");
    const id = newId("tts");
    await server.client().send(
      new PutObjectCommand({
        Bucket: server.bucket,
        Key: `orphans/audio/${id}/1-abc`,
        Body: new Uint8Array(3),
      }),
    );
    expect(await storage.audio.sweep()).toBe(0);
    expect(await keys("orphans/audio/")).toHaveLength(1);
    expect(await storage.audio.sweep(Date.now() + 3_600_001)).toBe(0);
    expect(await keys("orphans/audio/")).toEqual([]);
  });

  it("is shared by every node on the bucket: what one writes, another reads", async () => {
    const nodeA = await open("shared/");
    const nodeB = await open("shared/");
    const id = newId("voice");
    const data = bytes(1000);
    await nodeA.voices.put(id, data, voiceMeta("Ada"));
    expect(await nodeB.voices.read(id)).toEqual(data);
    expect((await nodeB.voices.list()).map((o) => o.id)).toEqual([id]);
    expect(await nodeB.voices.delete(id)).toBe(true);
    expect(await nodeA.voices.get(id)).toBeNull();
  });

  it("`tts storage copy-to-s3` moves a DATA_DIR folder into the bucket, keeping ids, bytes and times; again skips", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "tts-copy-"));
    const source = await createFsStorage({ dataDir });
    const voiceId = newId("voice");
    const audioId = newId("tts");
    const voiceData = bytes(3000);
    const audioData = bytes(500);
    const voice = await source.voices.put(voiceId, voiceData, voiceMeta("Ada"));
    const audio = await source.audio.put(audioId, audioData, audioMeta("kept"), { ttlMs: 7_200_000 });
    await source.close();
    const env = {
      DATA_DIR: dataDir,
      S3_BUCKET: server.bucket,
      S3_PREFIX: "copied/",
      S3_ENDPOINT: server.endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    };
    const first = await runCli(["storage", "copy-to-s3"], env);
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain("voices 1 copied, 0 already there; audio 1 copied, 0 already there");
    const target = await open("copied/");
    expect(await target.voices.get(voiceId)).toEqual(voice);
    expect(await target.audio.get(audioId)).toEqual(audio);
    expect(await target.voices.read(voiceId)).toEqual(voiceData);
    expect(await target.audio.read(audioId)).toEqual(audioData);
    const again = await runCli(["storage", "copy-to-s3"], env);
    expect(again.stdout).toContain("voices 0 copied, 1 already there; audio 0 copied, 1 already there");
    const missing = await runCli(["storage", "copy-to-s3"], { DATA_DIR: dataDir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("Set S3_BUCKET");
    await rm(dataDir, { recursive: true, force: true });
  });

  it("rejects bad ids before calling S3", async () => {
    const storage = await open("ids/");
    for (const id of ["", "../escape", "a/b", "x".repeat(65)]) {
      await expect(storage.voices.get(id)).rejects.toBeInstanceOf(InvalidIdError);
      await expect(storage.audio.put(id, bytes(1), audioMeta("x"))).rejects.toBeInstanceOf(InvalidIdError);
    }
    expect(await keys("ids/")).toEqual([]);
  });
});
