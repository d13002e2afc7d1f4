// Job records as another node reads them: alive while renewed, lost once their node stops renewing them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, expect, it } from "vitest";

import type { Job } from "@tts/api";

import { createLogger } from "../src/logger";
import { JobRecords, STALE_AFTER_MS } from "../src/services/job-records";
import { createFsStorage } from "../src/storage/fs-storage";
import type { Storage } from "../src/storage/storage";

const dirs: string[] = [];
const storages: Storage[] = [];
afterEach(async () => {
  for (const storage of storages.splice(0)) await storage.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const job = (status: Job["status"]): Job => ({
  id: "tts_recorded000000001",
  status,
  text: "Hello.",
  voiceId: null,
  format: "wav",
  createdAt: 1_000,
  finishedAt: null,
  error: null,
  audio: null,
  tokens: null,
  seed: 7,
});

async function twoNodes() {
  let clock = 10_000;
  const now = () => clock;
  const dir = mkdtempSync(path.join(tmpdir(), "tts-records-"));
  dirs.push(dir);
  const storage = await createFsStorage({ dataDir: dir, now });
  storages.push(storage);
  const log = createLogger("silent");
  const a = new JobRecords(
    storage.jobs,
    { id: "node-a", url: () => "http://10.0.0.1:8000" },
    3_600_000,
    log,
    now,
  );
  const b = new JobRecords(
    storage.jobs,
    { id: "node-b", url: () => "http://10.0.0.2:8000" },
    3_600_000,
    log,
    now,
  );
  return { a, b, advance: (ms: number) => (clock += ms) };
}

it("a running job's record points at its node while renewed, and reads as failed once it is not", async () => {
  const { a, b, advance } = await twoNodes();
  await a.save("alice", job("running"));
  expect(await b.find("alice", "tts_recorded000000001")).toMatchObject({
    where: "peer",
    node: { id: "node-a", url: "http://10.0.0.1:8000" },
    job: { status: "running" },
  });
  expect(await b.find("bob", "tts_recorded000000001")).toBeUndefined();
  advance(STALE_AFTER_MS);
  await a.save("alice", job("running")); // a heartbeat
  advance(STALE_AFTER_MS);
  expect((await b.find("alice", "tts_recorded000000001"))?.where).toBe("peer");
  advance(1);
  const lost = await b.find("alice", "tts_recorded000000001");
  expect(lost).toMatchObject({ where: "record", job: { status: "failed" } });
  expect(lost?.job.error?.message).toMatch(/stopped before it finished/);
  expect((await b.list("alice")).map((j) => j.status)).toEqual(["failed"]);
});

it("a node's own record of a job it no longer runs (it restarted) is lost, not a peer to forward to", async () => {
  const { a } = await twoNodes();
  await a.save("alice", job("queued"));
  expect(await a.find("alice", "tts_recorded000000001")).toMatchObject({
    where: "record",
    job: { status: "failed" },
  });
});

it("an ended job's record names the node that ran it (deletes go through it), and writes apply in order", async () => {
  const { a, b } = await twoNodes();
  void a.save("alice", job("running"));
  void a.save("alice", { ...job("cancelled"), finishedAt: 2_000 });
  await a.settled();
  expect(await b.find("alice", "tts_recorded000000001")).toMatchObject({
    where: "record",
    job: { status: "cancelled" },
    node: { id: "node-a" },
  });
  await a.remove("tts_recorded000000001");
  expect(await b.find("alice", "tts_recorded000000001")).toBeUndefined();
});
