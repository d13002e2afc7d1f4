/**
 * Storage write failures on a real file system: the data folder is a small tmpfs, filled up (ENOSPC) or
 * remounted read-only (EROFS, the not-writable class with EACCES). Callers get a clear error, nothing partial is
 * ever visible, and the node keeps serving. Mounting needs root (CI runs as root); elsewhere these tests skip.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { settleJob, startTestNode, trpcClientError, voiceForm, type TestNode } from "../support/node";

function tryMount(dir: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const dataDir = mkdtempSync(path.join(tmpdir(), "tts-disk-"));
const mounted = tryMount(dataDir);
let t: TestNode;

/** Every file under the data folder: nothing of a failed write may be left or visible. */
const files = () =>
  ["voices", "audio"].flatMap((sub) => readdirSync(path.join(dataDir, sub)).map((name) => `${sub}/${name}`));

/** Leaves about `freeBytes` free on the tmpfs. */
function fillDisk(freeBytes: number): string {
  const filler = path.join(dataDir, "filler");
  const chunk = Buffer.alloc(64 * 1024);
  let size = 0;
  try {
    for (;;) {
      writeFileSync(filler, chunk, { flag: "a" });
      size += chunk.length;
    }
  } catch {
    // ENOSPC: the disk is full.
  }
  truncateSync(filler, Math.max(0, size - freeBytes));
  return filler;
}

describe.skipIf(!mounted)("storage write failures (tmpfs data folder)", () => {
  beforeAll(async () => {
    t = await startTestNode({ dataDir });
  });
  afterAll(async () => {
    await t?.stop();
    execFileSync("umount", [dataDir]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a full disk: uploads get 507, a job fails with INSUFFICIENT_STORAGE, nothing partial remains", async () => {
    const filler = fillDisk(8 * 1024);
    try {
      const upload = await trpcClientError(t.client().voices.create.mutate(voiceForm()));
      expect(upload.data).toMatchObject({ httpStatus: 507 });
      expect(upload.message).toMatch(/disk is nearly full/);
      // The job starts (the reserve check passes) and runs out of space while its audio streams to disk.
      const job = await t.client().tts.synthesize.mutate({ text: "This will not fit on the disk at all." });
      const ended = await settleJob(t, job.id);
      expect(ended).toMatchObject({ status: "failed", error: { code: "INSUFFICIENT_STORAGE" } });
      expect((await fetch(`${t.url}/v1/audio/${job.id}`)).status).toBe(404);
      expect(files()).toEqual([]);
    } finally {
      rmSync(filler);
    }
    const done = await settleJob(t, (await t.client().tts.synthesize.mutate({ text: "Room again." })).id);
    expect(done.status).toBe("done");
    expect((await fetch(`${t.url}${done.audio!.url}`)).status).toBe(200);
  });

  it("a read-only disk: a generic 500 naming the request, no path; the node serves reads, then recovers", async () => {
    execFileSync("mount", ["-o", "remount,ro", dataDir]);
    try {
      const before = files();
      const raw = await fetch(`${t.url}/trpc/voices.create`, { method: "POST", body: voiceForm() });
      expect(raw.status).toBe(500);
      const body = await raw.text();
      expect(body).toContain(`request id ${raw.headers.get("x-request-id")}`);
      expect(body).not.toContain(dataDir);
      expect(body).not.toMatch(/EROFS|read-only/i);
      const job = await fetch(`${t.url}/trpc/tts.synthesize`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: "Hello." }),
      });
      expect(job.status).toBe(500);
      expect(files()).toEqual(before);
      expect((await t.client().tts.list.query({})).every((j) => j.status !== "running")).toBe(true);
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    } finally {
      execFileSync("mount", ["-o", "remount,rw", dataDir]);
    }
    expect((await t.client().voices.create.mutate(voiceForm())).id).toMatch(/^voice_/);
  });
});
