import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { replaceFiles, writeSynced } from "../src/fs/atomic-write";
import { createKeyedLock } from "../src/fs/key-lock";
import { ifExists, removeIfExists, statIfExists } from "../src/fs/missing";
import { mapPool } from "../src/fs/pool";

const tempDirs: string[] = [];

afterAll(() => Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "tts-fs-"));
  tempDirs.push(dir);
  return dir;
}

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("createKeyedLock", () => {
  it("runs tasks of one key one at a time, in call order, while other keys run alongside", async () => {
    const exclusive = createKeyedLock();
    const log: string[] = [];
    const first = deferred();
    const a1 = exclusive("a", async () => {
      log.push("a1 start");
      await first.promise;
      log.push("a1 end");
      return 1;
    });
    const a2 = exclusive("a", () => {
      log.push("a2");
      return Promise.resolve(2);
    });
    const b = exclusive("b", () => {
      log.push("b");
      return Promise.resolve(3);
    });
    await flush();
    expect(log).toEqual(["a1 start", "b"]);
    first.resolve();
    expect(await Promise.all([a1, a2, b])).toEqual([1, 2, 3]);
    expect(log).toEqual(["a1 start", "b", "a1 end", "a2"]);
  });

  it("releases the key when a task throws, handing the error to its caller only", async () => {
    const exclusive = createKeyedLock();
    const failing = exclusive("a", () => {
      throw new Error("boom");
    });
    const next = exclusive("a", () => Promise.resolve("ran"));
    await expect(failing).rejects.toThrow("boom");
    await expect(next).resolves.toBe("ran");
    await expect(exclusive("a", () => Promise.resolve("again"))).resolves.toBe("again");
  });
});

describe("mapPool", () => {
  it("keeps at most `limit` tasks in flight and returns results in item order", async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapPool([5, 1, 4, 2, 3, 0, 2], 3, async (ms) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, ms));
      inFlight--;
      return ms * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30, 0, 20]);
    expect(peak).toBe(3);
  });

  it("still runs every item for a limit below 1, and nothing for no items", async () => {
    const seen: number[] = [];
    expect(await mapPool([1, 2], 0, (n) => Promise.resolve(seen.push(n)))).toEqual([1, 2]);
    expect(await mapPool([], 4, () => Promise.resolve(seen.push(0)))).toEqual([]);
    expect(seen).toEqual([1, 2]);
  });

  it("rejects with the first failure after aborting the running tasks and starting no more", async () => {
    const started: number[] = [];
    const aborted: number[] = [];
    const slowDone = deferred();
    let settled = false;
    const pool = mapPool([0, 1, 2, 3, 4], 2, async (n, signal) => {
      started.push(n);
      if (n === 0) {
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
        aborted.push(n);
        await slowDone.promise;
        throw new Error("second failure");
      }
      throw new Error(`failure ${n}`);
    }).finally(() => (settled = true));
    await flush();
    expect(started).toEqual([0, 1]);
    expect(aborted).toEqual([0]);
    expect(settled).toBe(false); // still waits for task 0
    slowDone.resolve();
    await expect(pool).rejects.toThrow("failure 1");
    expect(started).toEqual([0, 1]);
  });

  it("stops with the caller's reason, not the tasks' failures, when the caller's signal aborts", async () => {
    const caller = new AbortController();
    const started: number[] = [];
    const task = (n: number, signal: AbortSignal) => {
      started.push(n);
      caller.abort(new Error("cancelled"));
      return signal.aborted ? Promise.reject(new Error("task saw the abort")) : Promise.resolve();
    };
    const pool = mapPool([0, 1, 2], 1, task, caller.signal);
    await expect(pool).rejects.toThrow("cancelled");
    expect(started).toEqual([0]);
  });
});

describe("replaceFiles", () => {
  it("replaces every file, leaving no temp file", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "a.json"), "old");
    await replaceFiles([
      [path.join(dir, "a.bin"), new Uint8Array([1, 2, 3])],
      [path.join(dir, "a.json"), "new"],
    ]);
    expect(await readdir(dir)).toEqual(["a.bin", "a.json"]);
    expect([...(await readFile(path.join(dir, "a.bin")))]).toEqual([1, 2, 3]);
    expect(await readFile(path.join(dir, "a.json"), "utf8")).toBe("new");
  });

  it("leaves the targets untouched and no temp file when one write fails", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "a.json"), "old");
    const failing = replaceFiles([
      [path.join(dir, "a.json"), "new"],
      [path.join(dir, "missing", "a.bin"), "data"],
    ]);
    await expect(failing).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readdir(dir)).toEqual(["a.json"]);
    expect(await readFile(path.join(dir, "a.json"), "utf8")).toBe("old");
  });

  it("removes the temp files when a rename fails", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "taken", "child"), { recursive: true });
    await expect(replaceFiles([[path.join(dir, "taken"), "data"]])).rejects.toThrow();
    expect(await readdir(dir)).toEqual(["taken"]);
  });
});

describe("writeSynced", () => {
  it("returns what the writer returns and closes the handle whether the writer succeeds or throws", async () => {
    const dir = await tempDir();
    const handles: FileHandle[] = [];
    const file = path.join(dir, "f");
    const written = await writeSynced(file, "a", async (handle) => {
      handles.push(handle);
      await handle.appendFile("abc");
      return 3;
    });
    expect(written).toBe(3);
    const failing = writeSynced(file, "a", (handle) => {
      handles.push(handle);
      return Promise.reject(new Error("disk full"));
    });
    await expect(failing).rejects.toThrow("disk full");
    expect(handles.map((handle) => handle.fd)).toEqual([-1, -1]);
    expect(await readFile(file, "utf8")).toBe("abc");
  });
});

describe("missing-file helpers", () => {
  it("turn ENOENT into undefined or false and pass every other error through", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "f");
    expect(await statIfExists(file)).toBeUndefined();
    expect(await removeIfExists(file)).toBe(false);
    await writeFile(file, "12345");
    expect((await statIfExists(file))?.size).toBe(5);
    expect(await ifExists(readFile(file, "utf8"))).toBe("12345");
    // A path below a regular file fails with ENOTDIR: not "missing", so it must not be swallowed.
    await expect(statIfExists(path.join(file, "child"))).rejects.toMatchObject({ code: "ENOTDIR" });
    expect(await removeIfExists(file)).toBe(true);
    expect(await removeIfExists(file)).toBe(false);
  });
});
