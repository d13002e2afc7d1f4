/**
 * Limits that hold under abuse: the rate limit per principal and per client IP (X-Forwarded-For only from
 * trusted proxies), the cap on bodies read at once, the voice quota and the free-space reserve (507).
 */
import { connect } from "node:net";

import { afterEach, describe, expect, it } from "vitest";

import type { NodeSettings } from "../../src/node";
import { startTestNode, trpcClientError, voiceForm, type TestNode } from "../support/node";

const ALICE = "alice-key-0123456789abcdef";
const BOB = "bob-key-0123456789abcdef0";

const started: TestNode[] = [];
async function node(overrides: Partial<NodeSettings>): Promise<TestNode> {
  const t = await startTestNode(overrides);
  started.push(t);
  return t;
}
afterEach(async () => {
  for (const t of started.splice(0)) await t.stop();
});

const health = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/trpc/health`, { headers }).then(async (res) => ({
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: await res.text(),
  }));

describe("rate limit", () => {
  it("limits each principal on its own, answers 429 with Retry-After, and never limits probes", async () => {
    const t = await node({
      apiKeys: [`alice:${ALICE}`, `bob:${BOB}`],
      rateLimit: { perMinute: 6, burst: 3 },
    });
    const alice = { Authorization: `Bearer ${ALICE}` };
    for (let i = 0; i < 3; i++) expect((await health(t.url, alice)).status).toBe(200);
    const limited = await health(t.url, alice);
    expect(limited.status).toBe(429);
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(10);
    expect(JSON.parse(limited.body)).toMatchObject({
      error: { data: { code: "TOO_MANY_REQUESTS", httpStatus: 429 } },
    });
    // The typed client reads the refusal like any other tRPC error, hint included.
    const seen = await trpcClientError(t.client(ALICE).tts.list.query({}));
    expect(seen.data).toMatchObject({ code: "TOO_MANY_REQUESTS", retryAfterSeconds: expect.any(Number) });
    expect((await health(t.url, { Authorization: `Bearer ${BOB}` })).status).toBe(200);
    for (let i = 0; i < 10; i++) {
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    }
  });

  it("limits by client IP without keys; X-Forwarded-For counts only from a trusted proxy", async () => {
    const direct = await node({ rateLimit: { perMinute: 6, burst: 2 } });
    // Untrusted peer: a forged header does not buy a fresh bucket.
    expect((await health(direct.url, { "X-Forwarded-For": "198.51.100.1" })).status).toBe(200);
    expect((await health(direct.url, { "X-Forwarded-For": "198.51.100.2" })).status).toBe(200);
    expect((await health(direct.url, { "X-Forwarded-For": "198.51.100.3" })).status).toBe(429);

    const proxied = await node({ rateLimit: { perMinute: 6, burst: 2 }, trustedProxies: ["127.0.0.1"] });
    const client = (ip: string) => ({ "X-Forwarded-For": ip });
    expect((await health(proxied.url, client("198.51.100.1"))).status).toBe(200);
    expect((await health(proxied.url, client("198.51.100.1"))).status).toBe(200);
    expect((await health(proxied.url, client("198.51.100.1"))).status).toBe(429);
    expect((await health(proxied.url, client("198.51.100.2"))).status).toBe(200);
  });
});

describe("bodies read at once", () => {
  it("refuses an upload past the cap with 503 + Retry-After while one trickles in, then takes it", async () => {
    const t = await node({ maxConcurrentUploads: 1 });
    const port = new URL(t.url).port;
    // A client that declares a large upload and sends it slowly holds the only upload slot.
    const slow = connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => slow.once("connect", resolve));
    slow.write(
      "POST /trpc/voices.create HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n" +
        "Content-Length: 1000000\r\n\r\n--b\r\n",
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await fetch(`${t.url}/trpc/voices.create`, { method: "POST", body: voiceForm() });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.text()).toMatch(/already receiving 1 voice uploads/);
    // Queries and small bodies have their own slots.
    expect((await health(t.url)).status).toBe(200);
    // The slow client goes away: its slot comes back.
    slow.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const voice = await t.client().voices.create.mutate(voiceForm());
    expect(voice.id).toMatch(/^voice_/);
  });
});

describe("voice quota", () => {
  it("refuses a principal's voice past the quota with 403, leaves others alone, and frees a place on delete", async () => {
    const t = await node({ apiKeys: [`alice:${ALICE}`, `bob:${BOB}`], maxVoicesPerOwner: 2 });
    const alice = t.client(ALICE);
    const first = await alice.voices.create.mutate(voiceForm());
    await alice.voices.create.mutate(voiceForm());
    const refused = await trpcClientError(alice.voices.create.mutate(voiceForm()));
    expect(refused.data).toMatchObject({ code: "FORBIDDEN", httpStatus: 403 });
    expect(refused.message).toMatch(/2 voices, the most this server keeps per key/);
    expect((await t.client(BOB).voices.create.mutate(voiceForm())).id).toMatch(/^voice_/);
    await alice.voices.delete.mutate({ id: first.id });
    expect((await alice.voices.create.mutate(voiceForm())).id).toMatch(/^voice_/);
    expect(await alice.voices.list.query()).toHaveLength(2);
  });
});

describe("free-space reserve", () => {
  it("answers 507 for every write while the disk is below the reserve, and keeps serving reads", async () => {
    const t = await node({ minFreeBytes: Number.MAX_SAFE_INTEGER });
    const upload = await trpcClientError(t.client().voices.create.mutate(voiceForm()));
    expect(upload.data).toMatchObject({ httpStatus: 507 });
    expect(upload.message).toMatch(/disk is nearly full: the voice was not saved/);
    const raw = await fetch(`${t.url}/trpc/tts.synthesize`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: "Hello." }),
    });
    expect(raw.status).toBe(507);
    const speech = await fetch(`${t.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tts-1", input: "Hello.", response_format: "wav" }),
    });
    expect(speech.status).toBe(507);
    expect(await speech.json()).toMatchObject({ error: { code: "INSUFFICIENT_STORAGE" } });
    expect(await t.client().voices.list.query()).toEqual([]);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
