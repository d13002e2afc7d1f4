// What the web app's browser UI relies on when the node needs credentials: session tokens as principals (over
// HTTP and SSE), signed audio links for media elements, downloads in another format, cancel, and health limits.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { mintSessionToken } from "@tts/api/session-token";
import { decodeWav } from "@tts/audio";

import { settleJob, startTestNode, trpcClientError, voiceForm, type TestNode } from "./support/node";

const SECRET = "shared-by-web-and-node-0123456789";
const KEY = "ops:an-api-key-0123456789";
const token = (session: string) => mintSessionToken(SECRET, { session }).token;
const alice = token("alice-session-000001");
const bob = token("bob-session-00000001");

let t: TestNode;

beforeAll(async () => {
  t = await startTestNode(
    { apiKeys: [KEY], sessionSecret: SECRET, maxActiveJobsPerOwner: 2 },
    // Never stops by itself: jobs last as long as maxTokens asks.
    { variant: "turbo", stopAfter: null },
  );
});

afterAll(async () => {
  await t?.stop();
});

async function doneJob(credential: string, text = "Hello there.") {
  const job = await t.client(credential).tts.synthesize.mutate({ text, maxTokens: 20 });
  const done = await settleJob(t, job.id, credential);
  expect(done.status).toBe("done");
  // A stored result keeps when it was asked for, apart from when it finished (a history shows both).
  expect(done.createdAt).toBe(job.createdAt);
  expect(done.finishedAt).toBeGreaterThan(job.createdAt);
  return done;
}

describe("browser sessions", () => {
  it("are principals of their own: each sees only its own voices and jobs, and keys see neither", async () => {
    const voice = await t.client(alice).voices.create.mutate(voiceForm("alice.wav"));
    const job = await doneJob(alice);
    expect((await t.client(alice).tts.list.query()).map((j) => j.id)).toContain(job.id);
    expect(await t.client(bob).tts.list.query()).toEqual([]);
    expect(await t.client(bob).voices.list.query()).toEqual([]);
    expect((await trpcClientError(t.client(bob).tts.get.query({ id: job.id }))).data?.code).toBe("NOT_FOUND");
    expect((await t.client("an-api-key-0123456789").tts.list.query()).map((j) => j.id)).not.toContain(job.id);
    expect((await t.client(alice).voices.list.query()).map((v) => v.id)).toEqual([voice.id]);
    const forged = mintSessionToken("not-the-node-secret-0123456789abcd", {
      session: "alice-session-000001",
    });
    expect((await trpcClientError(t.client(forged.token).tts.list.query())).data?.code).toBe("UNAUTHORIZED");
  });

  it("follow progress over SSE with the token as a connection param (EventSource sends no headers)", async () => {
    const job = await t.client(alice).tts.synthesize.mutate({ text: "Follow me.", maxTokens: 20 });
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = t.client(alice).tts.progress.subscribe(
        { id: job.id },
        {
          onData: (event) => {
            events.push(event.type);
            if (event.type === "done" || event.type === "failed") {
              subscription.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
    });
    expect(events.at(-1)).toBe("done");
    // Without a credential the subscription is refused, as every other protected call.
    const refused = await new Promise<unknown>((resolve) => {
      const subscription = t.client().tts.progress.subscribe(
        { id: job.id },
        {
          onData: () => undefined,
          onError: (error) => {
            subscription.unsubscribe();
            resolve(error);
          },
        },
      );
    });
    expect(String(refused)).toMatch(/API key is required/);
  });
});

describe("signed audio links", () => {
  it("let a media element fetch that one result without a header, until tampered with", async () => {
    const job = await doneJob(alice);
    const other = await doneJob(alice, "Another one.");
    const link = await t.client(alice).tts.audioLink.query({ id: job.id });
    expect(link.expiresAt).toBeGreaterThan(Date.now() + 30 * 60_000);
    const response = await fetch(`${t.url}${link.url}`);
    expect(response.status).toBe(200);
    expect(decodeWav(new Uint8Array(await response.arrayBuffer())).durationSeconds).toBeCloseTo(
      job.audio!.durationSeconds,
      2,
    );
    const unsigned = await fetch(`${t.url}/v1/audio/${job.id}`);
    expect(unsigned.status).toBe(401);
    // The signature is for one id and one owner.
    expect((await fetch(`${t.url}${link.url.replace(job.id, other.id)}`)).status).toBe(401);
    expect((await fetch(`${t.url}${link.url.replace("p=session-alice", "p=session-bob")}`)).status).toBe(401);
    // Bob's own link names Bob: it cannot reach Alice's audio.
    expect((await trpcClientError(t.client(bob).tts.audioLink.query({ id: job.id }))).data?.code).toBe(
      "NOT_FOUND",
    );
  });

  it("play a stored voice as the model hears it, for its owner only", async () => {
    const voice = await t.client(alice).voices.create.mutate(voiceForm("preview.wav"));
    const link = await t.client(alice).voices.audioLink.query({ id: voice.id });
    expect(link.url).toMatch(new RegExp(`^/v1/voices/${voice.id}/audio\\?p=session-alice`));
    const response = await fetch(`${t.url}${link.url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("audio/wav");
    const wav = decodeWav(new Uint8Array(await response.arrayBuffer()));
    expect(wav.sampleRate).toBe(voice.sampleRate);
    expect(wav.durationSeconds).toBeCloseTo(voice.durationSeconds, 2);
    expect((await fetch(`${t.url}/v1/voices/${voice.id}/audio`)).status).toBe(401);
    // A link for a result does not open a voice, nor the other way round.
    const job = await doneJob(alice);
    const jobLink = await t.client(alice).tts.audioLink.query({ id: job.id });
    expect((await fetch(`${t.url}/v1/voices/${voice.id}/audio?${jobLink.url.split("?")[1]}`)).status).toBe(
      401,
    );
    expect((await fetch(`${t.url}/v1/audio/${job.id}?${link.url.split("?")[1]}`)).status).toBe(401);
    expect((await trpcClientError(t.client(bob).voices.audioLink.query({ id: voice.id }))).data?.code).toBe(
      "NOT_FOUND",
    );
    await t.client(alice).voices.delete.mutate({ id: voice.id });
  });

  it("convert a stored WAV to MP3 for a download, and refuse formats that do not exist", async () => {
    const job = await doneJob(alice);
    const link = await t.client(alice).tts.audioLink.query({ id: job.id, format: "mp3", download: true });
    const response = await fetch(`${t.url}${link.url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("audio/mpeg");
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${job.id}.mp3"`);
    const mp3 = new Uint8Array(await response.arrayBuffer());
    expect(Number(response.headers.get("content-length"))).toBe(mp3.length);
    // An MPEG audio frame sync (11 set bits) at the start, and about 128 kbps for the job's duration.
    expect(mp3[0]).toBe(0xff);
    expect(mp3[1]! & 0xe0).toBe(0xe0);
    expect(mp3.length).toBeGreaterThan(((128_000 / 8) * job.audio!.durationSeconds) / 2);

    const wav = await t.client(alice).tts.audioLink.query({ id: job.id, download: true });
    const original = await fetch(`${t.url}${wav.url}`);
    expect(original.headers.get("content-disposition")).toBe(`attachment; filename="${job.id}.wav"`);
    expect(original.headers.get("content-type")).toBe("audio/wav");

    // The format is part of what a link signs: a playback link cannot be turned into a conversion.
    const plain = await t.client(alice).tts.audioLink.query({ id: job.id });
    expect((await fetch(`${t.url}${plain.url}&format=mp3`)).status).toBe(401);
    const bad = await fetch(`${t.url}/v1/audio/${job.id}?format=ogg`, {
      headers: { Authorization: `Bearer ${alice}` },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(
      /Unknown format "ogg"; use one of mp3, opus/,
    );
  });
});

describe("a job's audio while it runs", () => {
  it("refuses an unknown format with 400 and honours download=1 on the live stream", async () => {
    const job = await t.client(alice).tts.synthesize.mutate({ text: "Still going.", maxTokens: 4000 });
    await expect
      .poll(async () => (await t.client(alice).tts.get.query({ id: job.id })).status)
      .toBe("running");
    const headers = { Authorization: `Bearer ${alice}` };
    const bad = await fetch(`${t.url}/v1/audio/${job.id}?format=garbage`, { headers });
    expect(bad.status).toBe(400);
    const abort = new AbortController();
    const live = await fetch(`${t.url}/v1/audio/${job.id}?download=1`, { headers, signal: abort.signal });
    expect(live.status).toBe(200);
    expect(live.headers.get("content-disposition")).toBe(`attachment; filename="${job.id}.wav"`);
    abort.abort();
    const other = await fetch(`${t.url}/v1/audio/${job.id}?format=mp3`, { headers });
    expect(other.status).toBe(409);
    await t.client(alice).tts.cancel.mutate({ id: job.id });
  });
});

describe("cancel", () => {
  it("stops a running job, which stays listed as cancelled with no audio", async () => {
    const job = await t.client(alice).tts.synthesize.mutate({ text: "A long one.", maxTokens: 4000 });
    await expect
      .poll(async () => (await t.client(alice).tts.get.query({ id: job.id })).status)
      .toBe("running");
    const cancelled = await t.client(alice).tts.cancel.mutate({ id: job.id });
    expect(cancelled).toMatchObject({ status: "cancelled", audio: null });
    expect(cancelled.error?.message).toBe("The synthesis was cancelled.");
    expect((await t.client(alice).tts.list.query()).find((j) => j.id === job.id)?.status).toBe("cancelled");
    expect((await trpcClientError(t.client(bob).tts.cancel.mutate({ id: job.id }))).data?.code).toBe(
      "NOT_FOUND",
    );
  });
});

describe("per-session quota", () => {
  it("caps the jobs one session has in flight, without holding up another session", async () => {
    const long = { text: "Keep going.", maxTokens: 4000 };
    const first = await t.client(alice).tts.synthesize.mutate(long);
    const second = await t.client(alice).tts.synthesize.mutate(long);
    const refused = await trpcClientError(t.client(alice).tts.synthesize.mutate(long));
    expect(refused.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(refused.message).toMatch(/^You already have 2 jobs queued or running \(the limit per caller\)/);
    expect(refused.data?.retryAfterSeconds).toBeGreaterThan(0);
    const bobs = await t.client(bob).tts.synthesize.mutate({ text: "Mine.", maxTokens: 4 });
    expect(bobs.status).toMatch(/queued|running/);
    // Cancelling one makes room again.
    await t.client(alice).tts.cancel.mutate({ id: first.id });
    const third = await t.client(alice).tts.synthesize.mutate(long);
    for (const { id } of [second, third]) await t.client(alice).tts.cancel.mutate({ id });
    expect((await settleJob(t, bobs.id, bob)).status).toBe("done");
  });
});

describe("health for UIs", () => {
  it("names the limits a page must respect and the queue, without a credential", async () => {
    const health = await t.client().health.query();
    expect(health.limits).toEqual({ maxTextLength: 300, maxUploadBytes: 2_000_000 });
    expect(health.queue).toEqual({ queued: 0, running: 0 });
  });
});
