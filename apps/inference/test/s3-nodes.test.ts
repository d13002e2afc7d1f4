// Inference nodes on one S3 bucket (a real S3-compatible server process): what one stores, the other serves, and
// a job one runs can be followed, heard and cancelled through another.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { JobProgress } from "@tts/api";
import { decodeWav } from "@tts/audio";

import { settleJob, startTestNode, trpcClientError, voiceForm, type TestNode } from "./support/node";
import { startS3Server, type S3Server } from "./support/s3";

let server: S3Server;
let nodeA: TestNode;
let nodeB: TestNode;

beforeAll(async () => {
  server = await startS3Server();
  // The nodes build their client from the SDK's usual sources, as on ECS (there: the task role).
  process.env.AWS_ACCESS_KEY_ID = "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
  const s3 = { bucket: server.bucket, prefix: "nodes/", endpoint: server.endpoint };
  nodeA = await startTestNode({ s3 });
  nodeB = await startTestNode({ s3 });
});

afterAll(async () => {
  await nodeA?.stop();
  await nodeB?.stop();
  await server?.stop();
});

it("a voice uploaded on A speaks on B, and B's result is listed and served by A", async () => {
  const voice = await nodeA.client().voices.create.mutate(voiceForm("shared.wav"));
  expect((await nodeB.client().voices.list.query()).map((v) => v.id)).toContain(voice.id);
  const job = await nodeB.client().tts.synthesize.mutate({ text: "Made on B.", voiceId: voice.id });
  const done = await settleJob(nodeB, job.id);
  expect(done).toMatchObject({ status: "done", voiceId: voice.id });
  expect(await nodeA.client().tts.get.query({ id: job.id })).toMatchObject({
    status: "done",
    voiceId: voice.id,
  });
  expect((await nodeA.client().tts.list.query()).map((j) => j.id)).toContain(job.id);
  const fromA = new Uint8Array(await (await fetch(`${nodeA.url}/v1/audio/${job.id}`)).arrayBuffer());
  const fromB = new Uint8Array(await (await fetch(`${nodeB.url}/v1/audio/${job.id}`)).arrayBuffer());
  expect(Buffer.from(fromA).equals(Buffer.from(fromB))).toBe(true);
  expect(decodeWav(fromA).durationSeconds).toBeCloseTo(done.audio!.durationSeconds, 2);
  // A range request served by A, from the bucket.
  const ranged = await fetch(`${nodeA.url}/v1/audio/${job.id}`, { headers: { Range: "bytes=0-43" } });
  expect(ranged.status).toBe(206);
  expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(fromB.subarray(0, 44));
  // Deleting through A removes it for B too.
  await nodeA.client().tts.delete.mutate({ id: job.id });
  expect((await fetch(`${nodeB.url}/v1/audio/${job.id}`)).status).toBe(404);
});

describe("a job runs on one node and is followed, heard and cancelled through another", () => {
  const SECRET = "nodes-and-web-share-this-0123456789";
  const ALICE = "alice:alice-key-0123456789";
  const BOB = "bob:bob-key-0123456789abc";
  const alice = "alice-key-0123456789";
  const bob = "bob-key-0123456789abc";
  let a: TestNode;
  let b: TestNode;

  beforeAll(async () => {
    const s3 = { bucket: server.bucket, prefix: "keyed/", endpoint: server.endpoint };
    const settings = { s3, apiKeys: [ALICE, BOB], sessionSecret: SECRET, maxTextLength: 2000 };
    // Jobs last as long as maxTokens asks, so they are still running while B is asked about them.
    a = await startTestNode(settings, { variant: "turbo", stopAfter: null });
    b = await startTestNode(settings, { variant: "turbo", stopAfter: null });
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it("B relays A's progress and live audio to the job's owner, and nobody else's", async () => {
    const job = await a.client(alice).tts.synthesize.mutate({ text: "Started on A.", maxTokens: 150 });
    expect(["queued", "running"]).toContain((await b.client(alice).tts.get.query({ id: job.id })).status);
    expect((await b.client(alice).tts.list.query()).map((j) => j.id)).toContain(job.id);
    const other = await trpcClientError(b.client(bob).tts.get.query({ id: job.id }));
    expect(other.data?.code).toBe("NOT_FOUND");

    // The live stream through B: chunked, no ranges, made by A as it goes.
    const live = await fetch(`${b.url}/v1/audio/${job.id}`, {
      headers: { Authorization: `Bearer ${alice}` },
    });
    expect(live.status).toBe(200);
    expect(live.headers.get("accept-ranges")).toBe("none");
    const heard = live.arrayBuffer();
    const events = await collectProgress(b, alice, job.id);
    const last = events.at(-1)!;
    expect(last.type).toBe("done");
    expect(events.some((e) => e.type === "running" && e.audioSeconds > 0)).toBe(true);
    const stored = new Uint8Array(
      await (await fetch(`${a.url}/v1/audio/${job.id}`, auth(alice))).arrayBuffer(),
    );
    // The same samples; the stored file's header has the sizes, which a live stream cannot know in advance.
    const samples = (wav: Uint8Array) => Buffer.from(wav.subarray(44));
    expect(samples(new Uint8Array(await heard)).equals(samples(stored))).toBe(true);
    expect(decodeWav(stored).durationSeconds).toBeGreaterThan(1);
    // Done, the record is gone and both nodes answer from the stored audio.
    expect(await b.client(alice).tts.get.query({ id: job.id })).toMatchObject({ status: "done" });
    expect((await fetch(`${b.url}/v1/audio/${job.id}`, auth(bob))).status).toBe(404);
  });

  it("cancelling through B stops the job on A, and both then say cancelled", async () => {
    const job = await a.client(alice).tts.synthesize.mutate({ text: "Runs until stopped.", maxTokens: 4000 });
    await expect
      .poll(async () => (await b.client(alice).tts.get.query({ id: job.id })).status)
      .toBe("running");
    expect((await trpcClientError(b.client(bob).tts.cancel.mutate({ id: job.id }))).data?.code).toBe(
      "NOT_FOUND",
    );
    expect(await b.client(alice).tts.cancel.mutate({ id: job.id })).toMatchObject({ status: "cancelled" });
    expect(await a.client(alice).tts.get.query({ id: job.id })).toMatchObject({ status: "cancelled" });
    expect(await b.client(alice).tts.get.query({ id: job.id })).toMatchObject({ status: "cancelled" });
    expect(a.node.jobs.stats()).toEqual({ queued: 0, running: 0 });
    // Deleting the ended job through B removes its record for A too.
    await b.client(alice).tts.delete.mutate({ id: job.id });
    expect((await trpcClientError(a.client(alice).tts.get.query({ id: job.id }))).data?.code).toBe(
      "NOT_FOUND",
    );
  });

  it("refuses a forwarded request that reached the wrong node (421), and keeps serving", async () => {
    const misdirected = await fetch(`${a.url}/v1/audio/tts_whatever`, {
      headers: { Authorization: `Bearer ${alice}`, "x-tts-node": "some-other-node" },
    });
    expect(misdirected.status).toBe(421);
    expect(((await misdirected.json()) as { error: { message: string } }).error.message).toMatch(
      /TTS_NODE_URL/,
    );
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
  });

  // Last: it closes A's server.
  it("when A cannot be reached, B says so (503) and its follower watches the record to the end", async () => {
    const job = await a.client(alice).tts.synthesize.mutate({ text: "Runs until stopped.", maxTokens: 4000 });
    await expect
      .poll(async () => (await b.client(alice).tts.get.query({ id: job.id })).status)
      .toBe("running");
    const following = collectProgress(b, alice, job.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    a.node.server.close();
    a.node.server.closeAllConnections();
    const refused = await trpcClientError(b.client(alice).tts.cancel.mutate({ id: job.id }));
    expect(refused.data?.code).toBe("SERVICE_UNAVAILABLE");
    expect(refused.message).toContain(a.url);
    const live = await fetch(`${b.url}/v1/audio/${job.id}`, auth(alice));
    expect(live.status).toBe(503);
    expect(live.headers.get("retry-after")).toBe("5");
    // A still runs the job and renews its record; it ends there, and B's follower learns it from the record.
    await a.node.jobs.cancel("alice", job.id);
    const events = await following;
    expect(events.some((e) => e.type === "running")).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "failed", code: "CLIENT_CLOSED_REQUEST" });
  }, 30_000);
});

const auth = (key: string) => ({ headers: { Authorization: `Bearer ${key}` } });

/** Every progress event of a job through a node's typed client, until it ends. */
function collectProgress(t: TestNode, key: string, id: string): Promise<JobProgress[]> {
  const events: JobProgress[] = [];
  return new Promise((resolve, reject) => {
    const subscription = t.client(key).tts.progress.subscribe(
      { id },
      {
        onData: (event) => {
          events.push(event);
          if (event.type === "done" || event.type === "failed") {
            subscription.unsubscribe();
            resolve(events);
          }
        },
        onError: reject,
      },
    );
  });
}
