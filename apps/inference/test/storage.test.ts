import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { createFsStorage, type FsStorageOptions } from "../src/storage/fs-storage";
import { ID_PATTERN, InvalidIdError, isValidId, newId } from "../src/storage/ids";
import type { Collection, Storage } from "../src/storage/storage";
import { audioMeta, bytes, collect, manualClock, voiceMeta } from "./support/storage-fixtures";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), "tts-storage-"));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return root;
}

async function open(options: FsStorageOptions): Promise<Storage> {
  const storage = await createFsStorage(options);
  cleanups.push(() => storage.close());
  return storage;
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

describe("ids", () => {
  it("newId matches ID_PATTERN, carries its prefix and is unique over 10k calls", () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => newId(i % 2 ? "voice" : "tts"));
    expect(ids.filter((id) => !ID_PATTERN.test(id))).toEqual([]);
    expect(ids.filter((id) => !/^(voice|tts)_[\w-]{20}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(10_000);
  });

  it("isValidId accepts only 8-64 url-safe characters", () => {
    expect(isValidId("voice_abcdefgh")).toBe(true);
    expect(isValidId("a".repeat(64))).toBe(true);
    for (const bad of [
      "../../etc/passwd",
      "a/b",
      "..",
      "",
      "a".repeat(200),
      "short",
      "abc.defgh",
      42,
      null,
    ]) {
      expect(isValidId(bad)).toBe(false);
    }
  });
});

describe("createFsStorage", () => {
  it("round-trips voices and audio: put, get, read, stream, list (newest first), delete", async () => {
    const dataDir = path.join(await tempRoot(), "data");
    const clock = manualClock();
    const storage = await open({ dataDir, now: clock.now });

    const cases = [
      [storage.voices, voiceMeta("Ada"), "voice", null],
      [storage.audio, audioMeta("hello"), "tts", 3_600_000], // the default audio TTL
    ] as const;
    for (const [collection, meta, prefix, ttl] of cases) {
      const c = collection as Collection<typeof meta>;
      const first = newId(prefix);
      const second = newId(prefix);
      const firstData = bytes(3000);
      const secondData = bytes(10);

      const put = await c.put(first, firstData, meta);
      expect(put).toEqual({
        id: first,
        meta,
        size: 3000,
        createdAt: clock.t,
        expiresAt: ttl === null ? null : clock.t + ttl,
      });
      clock.t += 1000;
      await c.put(second, secondData, meta);

      expect(await c.get(first)).toEqual(put);
      expect(await c.read(first)).toEqual(firstData);
      expect(await collect(await c.stream(first))).toEqual(firstData);
      expect(await c.read(second)).toEqual(secondData);
      expect((await c.list()).map((object) => object.id)).toEqual([second, first]);

      expect(await c.delete(first)).toBe(true);
      expect(await c.delete(first)).toBe(false);
      expect(await c.get(first)).toBeNull();
      expect(await c.read(first)).toBeNull();
      expect(await c.stream(first)).toBeNull();
      expect((await c.list()).map((object) => object.id)).toEqual([second]);
    }
    // Only the survivors' committed files are left: no temp files, nothing of the deleted objects.
    const left = await files(dataDir);
    expect(left.filter((name) => name.includes(".tmp-"))).toEqual([]);
    expect(left.filter((name) => /\.(bin|json)$/.test(name))).toHaveLength(4);
  });

  it("serves byte ranges identically through read and stream", async () => {
    const storage = await open({ dataDir: await tempRoot() });
    const id = newId("tts");
    const data = bytes(1000);
    await storage.audio.put(id, data, audioMeta("range"));

    const ranges: [number, number, Uint8Array][] = [
      [0, 0, data.subarray(0, 1)],
      [100, 199, data.subarray(100, 200)],
      [999, 999, data.subarray(999)],
      [990, 5000, data.subarray(990)], // an end past the last byte is clamped
      [0, 999, data],
      [1000, 1010, new Uint8Array(0)], // a start past the end gives nothing
    ];
    for (const [start, end, expected] of ranges) {
      expect(await storage.audio.read(id, { start, end })).toEqual(expected);
      expect(await collect(await storage.audio.stream(id, { start, end }))).toEqual(expected);
    }
    await expect(storage.audio.read(id, { start: 5, end: 4 })).rejects.toBeInstanceOf(RangeError);
    await expect(storage.audio.stream(id, { start: -1, end: 4 })).rejects.toBeInstanceOf(RangeError);
  });

  it("keeps every voice and unexpired audio, byte-identical, across a restart", async () => {
    const dataDir = await tempRoot();
    const clock = manualClock();
    const before = await createFsStorage({ dataDir, now: clock.now });
    const saved = new Map<string, Uint8Array>();
    for (let i = 0; i < 5; i++) {
      const voice = newId("voice");
      const audio = newId("tts");
      saved.set(voice, bytes(24_000 * 4 + i)).set(audio, bytes(5000 + i));
      await before.voices.put(voice, saved.get(voice) as Uint8Array, voiceMeta(`v${i}`));
      await before.audio.put(audio, saved.get(audio) as Uint8Array, audioMeta(`a${i}`));
      clock.t += 10;
    }
    const voicesBefore = await before.voices.list();
    const audioBefore = await before.audio.list();
    await before.close();

    clock.t += 60_000; // restarted a minute later, well within the audio TTL
    const after = await open({ dataDir, now: clock.now });
    expect(await after.voices.list()).toEqual(voicesBefore);
    expect(await after.audio.list()).toEqual(audioBefore);
    for (const [id, data] of saved) {
      const collection = id.startsWith("voice_") ? after.voices : after.audio;
      expect(Buffer.from((await collection.read(id)) as Uint8Array).equals(data)).toBe(true);
    }
  });

  it("hides expired audio at once and deletes its files on sweep; voices never expire", async () => {
    const dataDir = await tempRoot();
    const clock = manualClock();
    const storage = await open({ dataDir, now: clock.now, audioTtlMs: 1000 });
    const audio = newId("tts");
    const longLived = newId("tts");
    const forever = newId("tts");
    const voice = newId("voice");
    await storage.audio.put(audio, bytes(100), audioMeta("short"));
    await storage.audio.put(longLived, bytes(100), audioMeta("long"), { ttlMs: 10_000 });
    await storage.audio.put(forever, bytes(100), audioMeta("kept"), { ttlMs: null });
    await storage.voices.put(voice, bytes(100), voiceMeta("Ada"));

    clock.t += 1000; // expiresAt is exclusive: at that instant the object is gone
    expect(await storage.audio.get(audio)).toBeNull();
    expect(await storage.audio.read(audio)).toBeNull();
    expect(await storage.audio.stream(audio)).toBeNull();
    expect(await storage.audio.updateMeta(audio, (meta) => meta)).toBeNull();
    expect((await storage.audio.list()).map((object) => object.id).sort()).toEqual(
      [forever, longLived].sort(),
    );
    expect(await files(path.join(dataDir, "audio"))).toContain(`${audio}.bin`); // hidden, not yet removed

    expect(await storage.audio.sweep()).toBe(1);
    expect((await files(path.join(dataDir, "audio"))).filter((name) => name.startsWith(audio))).toEqual([]);
    expect(await storage.audio.sweep()).toBe(0);

    clock.t += 10 * 365 * 24 * 3_600_000;
    expect(await storage.voices.sweep()).toBe(0);
    expect(await storage.voices.get(voice)).not.toBeNull();
    expect(await storage.audio.sweep()).toBe(1);
    expect((await storage.audio.list()).map((object) => object.id)).toEqual([forever]);
  });

  it("removes audio that expired while the node was down at start-up, and nothing else", async () => {
    const dataDir = await tempRoot();
    const clock = manualClock();
    const before = await createFsStorage({ dataDir, now: clock.now, audioTtlMs: 1000 });
    const expired = newId("tts");
    const alive = newId("tts");
    const voice = newId("voice");
    await before.audio.put(expired, bytes(10), audioMeta("gone"));
    await before.audio.put(alive, bytes(10), audioMeta("kept"), { ttlMs: 60_000 });
    await before.voices.put(voice, bytes(10), voiceMeta("Ada"));
    await before.close();

    clock.t += 5000;
    await open({ dataDir, now: clock.now, audioTtlMs: 1000, sweepIntervalMs: 3_600_000 });
    // Checked on disk, without calling sweep: the start-up sweep did it.
    expect(await files(path.join(dataDir, "audio"))).toEqual([`${alive}.bin`, `${alive}.json`]);
    expect(await files(path.join(dataDir, "voices"))).toEqual([`${voice}.bin`, `${voice}.json`]);
  });

  it("sweeps in the background until closed", async () => {
    const dataDir = await tempRoot();
    const clock = manualClock();
    const storage = await createFsStorage({ dataDir, now: clock.now, audioTtlMs: 1000, sweepIntervalMs: 10 });
    const first = newId("tts");
    await storage.audio.put(first, bytes(10), audioMeta("first"));
    clock.t += 1000;
    await expect.poll(() => files(path.join(dataDir, "audio")), { timeout: 2000, interval: 10 }).toEqual([]);

    await storage.close();
    const second = newId("tts");
    await storage.audio.put(second, bytes(10), audioMeta("second"));
    clock.t += 1000;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await files(path.join(dataDir, "audio"))).toEqual([`${second}.bin`, `${second}.json`]);
  });

  it("ignores and later cleans what a crash leaves behind: data without metadata, stale temp files", async () => {
    const dataDir = await tempRoot();
    const storage = await open({ dataDir });
    const dir = path.join(dataDir, "voices");
    const kept = newId("voice");
    await storage.voices.put(kept, bytes(10), voiceMeta("kept"));

    const orphan = newId("voice");
    const freshOrphan = newId("voice");
    const stale = [`${orphan}.bin`, `${kept}.json.tmp-0123abcd`, `${kept}.bin.tmp-4567ef01`];
    const fresh = [`${freshOrphan}.bin`, `${kept}.json.tmp-89abcdef`]; // could be a put in flight elsewhere
    for (const name of [...stale, ...fresh]) await writeFile(path.join(dir, name), "partial");
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    for (const name of stale) await utimes(path.join(dir, name), twoMinutesAgo, twoMinutesAgo);

    expect(await storage.voices.get(orphan)).toBeNull();
    expect(await storage.voices.read(orphan)).toBeNull();
    expect((await storage.voices.list()).map((object) => object.id)).toEqual([kept]);

    expect(await storage.voices.sweep()).toBe(0); // garbage is not an expired object
    expect(await files(dir)).toEqual([`${kept}.bin`, `${kept}.json`, ...fresh].sort());
    expect(await storage.voices.read(kept)).toHaveLength(10);
  });

  it("never lets a read during a put of the same id see a mix of old and new bytes", async () => {
    const storage = await open({ dataDir: await tempRoot() });
    const id = newId("voice");
    // Different lengths and fill bytes: any torn read shows up in one or the other.
    const versions = [new Uint8Array(48_000).fill(0xaa), new Uint8Array(32_000).fill(0x55)];
    await storage.voices.put(id, versions[0] as Uint8Array, voiceMeta("v0"));

    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 120; i++) {
        await storage.voices.put(id, versions[i % 2] as Uint8Array, voiceMeta(`v${i % 2}`));
      }
      writing = false;
    })();
    let reads = 0;
    while (writing || reads < 300) {
      const [object, data, streamed] = await Promise.all([
        storage.voices.get(id),
        storage.voices.read(id),
        collect(await storage.voices.stream(id, { start: 0, end: 99_999 })),
      ]);
      expect(object?.meta.name).toMatch(/^v[01]$/);
      for (const seen of [data, streamed]) {
        expect(seen === null ? null : Buffer.from(seen).toString("base64")).toBeOneOf(
          versions.map((version) => Buffer.from(version).toString("base64")),
        );
      }
      reads++;
    }
    await writer;
  });

  it("settles concurrent puts and deletes of one id in call order, without errors", async () => {
    const dataDir = await tempRoot();
    const storage = await open({ dataDir });
    const id = newId("tts");
    const [a, b] = [bytes(100), bytes(200)];

    await Promise.all([
      storage.audio.put(id, a, audioMeta("a")),
      storage.audio.delete(id),
      storage.audio.put(id, b, audioMeta("b")),
    ]);
    expect(await storage.audio.read(id)).toEqual(b);
    expect((await storage.audio.get(id))?.size).toBe(200);

    const results = await Promise.all([
      storage.audio.put(id, a, audioMeta("a")),
      storage.audio.put(id, b, audioMeta("b")),
      storage.audio.delete(id),
      storage.audio.sweep(),
    ]);
    expect(results[2]).toBe(true);
    expect(await storage.audio.get(id)).toBeNull();
    expect(await files(path.join(dataDir, "audio"))).toEqual([]);

    const operations = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 2 ? storage.audio.delete(id) : storage.audio.put(id, i % 3 ? b : a, audioMeta(String(i))),
    );
    await expect(Promise.all(operations)).resolves.toHaveLength(60);
    expect(await storage.audio.get(id)).toBeNull(); // the last call (i = 59) was a delete
    expect(await files(path.join(dataDir, "audio"))).toEqual([]);
  });

  it("streams an object in with a writer: readable while written, invisible until committed, patchable", async () => {
    const root = await tempRoot();
    const { audio } = await open({ dataDir: root });
    const id = newId("tts");
    const writer = await audio.createWriter(id);
    const parts = [bytes(10), bytes(5000), bytes(3)];
    for (const part of parts) await writer.append(part);
    expect(writer.size).toBe(5013);
    expect(await writer.read(8, 12)).toEqual(
      new Uint8Array([...parts[0]!.subarray(8), ...parts[1]!.subarray(0, 2)]),
    );
    expect(await writer.read(5010, 9999)).toEqual(parts[2]);
    expect(await audio.get(id)).toBeNull();
    expect(await audio.list()).toEqual([]);

    const header = new Uint8Array([1, 2, 3, 4]);
    const stored = await writer.commit(audioMeta("streamed"), [{ offset: 2, data: header }]);
    expect(stored).toMatchObject({ id, size: 5013, meta: { text: "streamed" } });
    const expected = new Uint8Array([...parts[0]!, ...parts[1]!, ...parts[2]!]);
    expected.set(header, 2);
    expect(await audio.read(id)).toEqual(expected);
    expect((await audio.list()).map((o) => o.id)).toEqual([id]);
    expect((await readdir(path.join(root, "audio"))).sort()).toEqual([`${id}.bin`, `${id}.json`]);
  });

  it("leaves nothing behind when a writer is aborted", async () => {
    const root = await tempRoot();
    const { audio } = await open({ dataDir: root });
    const id = newId("tts");
    const writer = await audio.createWriter(id);
    await writer.append(bytes(100));
    await writer.abort();
    expect(await audio.get(id)).toBeNull();
    expect(await readdir(path.join(root, "audio"))).toEqual([]);
  });

  it("rejects bad ids with InvalidIdError before touching the file system", async () => {
    const root = await tempRoot();
    const dataDir = path.join(root, "data");
    await mkdir(path.join(root, "outside"));
    const storage = await open({ dataDir });
    const victim = newId("voice");
    await storage.voices.put(victim, bytes(10), voiceMeta("victim"));
    const snapshot = await files(root);

    const badIds: unknown[] = ["../../etc/passwd", "a/b", "..", "", "x".repeat(200), `../${victim}`, 7, null];
    for (const bad of badIds) {
      const id = bad as string;
      for (const collection of [storage.voices, storage.audio] as Collection<unknown>[]) {
        const calls = [
          () => collection.put(id, bytes(10), voiceMeta("evil")),
          () => collection.get(id),
          () => collection.read(id),
          () => collection.read(id, { start: 0, end: 1 }),
          () => collection.stream(id),
          () => collection.updateMeta(id, () => voiceMeta("evil")),
          () => collection.delete(id),
        ];
        for (const call of calls) await expect(call()).rejects.toBeInstanceOf(InvalidIdError);
      }
    }
    expect(await files(root)).toEqual(snapshot);
    expect((await storage.voices.get(victim))?.meta.name).toBe("victim");
  });

  it("renames a voice atomically with updateMeta", async () => {
    const dataDir = await tempRoot();
    const clock = manualClock();
    const storage = await open({ dataDir, now: clock.now });
    const id = newId("voice");
    const data = bytes(500);
    const put = await storage.voices.put(id, data, voiceMeta("Ada"));

    clock.t += 5000;
    const renamed = await storage.voices.updateMeta(id, (meta) => ({ ...meta, name: "Grace" }));
    expect(renamed).toEqual({ ...put, meta: voiceMeta("Grace") }); // size, createdAt, expiry kept
    expect(await storage.voices.get(id)).toEqual(renamed);
    expect(await storage.voices.read(id)).toEqual(data);
    expect(await storage.voices.updateMeta(newId("voice"), (meta) => meta)).toBeNull();

    // Concurrent read-modify-writes all land, and readers never see a missing or half-written object.
    const updates = Array.from({ length: 30 }, () =>
      storage.voices.updateMeta(id, (meta) => ({ ...meta, name: `${meta.name}+` })),
    );
    const reads = Array.from({ length: 30 }, () => storage.voices.get(id));
    const seen = await Promise.all(reads);
    await Promise.all(updates);
    for (const object of seen) expect(object?.meta.name).toMatch(/^Grace\+*$/);
    expect((await storage.voices.get(id))?.meta.name).toBe(`Grace${"+".repeat(30)}`);

    const failing = storage.voices.updateMeta(id, () => {
      throw new Error("nope");
    });
    await expect(failing).rejects.toThrow("nope");
    expect((await storage.voices.get(id))?.meta.name).toBe(`Grace${"+".repeat(30)}`);
    expect((await files(path.join(dataDir, "voices"))).filter((name) => name.includes(".tmp-"))).toEqual([]);
  });

  it("skips objects with corrupt metadata in list and reports them missing", async () => {
    const dataDir = await tempRoot();
    const storage = await open({ dataDir });
    const dir = path.join(dataDir, "voices");
    const good = newId("voice");
    await storage.voices.put(good, bytes(10), voiceMeta("good"));
    const corrupt = {
      [newId("voice")]: '{"id":"voice_trunc',
      [newId("voice")]: "{}",
      [newId("voice")]: "null",
      [newId("voice")]: JSON.stringify({ id: good, size: 1, createdAt: 1, expiresAt: null, meta: {} }),
    };
    for (const [id, text] of Object.entries(corrupt)) {
      await writeFile(path.join(dir, `${id}.bin`), "data");
      await writeFile(path.join(dir, `${id}.json`), text);
    }

    expect((await storage.voices.list()).map((object) => object.id)).toEqual([good]);
    for (const id of Object.keys(corrupt)) {
      expect(await storage.voices.get(id)).toBeNull();
      expect(await storage.voices.read(id)).toBeNull();
    }
    expect(await storage.voices.sweep()).toBe(0);
  });
});
