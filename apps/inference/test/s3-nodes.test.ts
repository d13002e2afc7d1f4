// Two inference nodes on one S3 bucket (a real S3-compatible server process): what one stores, the other serves.
import { afterAll, beforeAll, expect, it } from "vitest";

import { decodeWav } from "@tts/audio";

import { settleJob, startTestNode, voiceForm, type TestNode } from "./support/node";
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
