// Load: (a) sustained traffic against cheap authenticated queries (autocannon, in a worker thread so that the
// load generator does not share the node's event loop): zero non-2xx, zero errors, requests/s and p99 reported.
// (b) Synthesis offered at twice capacity (capacity = workers + queue slots), all at once, through tts.synthesize
// and through POST /v1/audio/speech: only accepted jobs (200) and 429s with a finite Retry-After come back, never a
// 5xx, the counts add up, and every accepted job's stored audio is an intact WAV (the streamed one matches it).
import autocannon from "autocannon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { decodeWav } from "@tts/audio";

import { startTestNode, type TestNode } from "../support/node";
import {
  byProfile,
  capturingLogger,
  checkWav,
  errorMessage,
  expectHealthy,
  FULL,
  Http,
  percentile,
  report,
  trpcData,
  trpcQuery,
  waitFor,
  type Figure,
} from "./support";

const KEY = "reliability-load-key-0123456789";
const AUTH = { Authorization: `Bearer ${KEY}` };
/** Seconds of sustained traffic per endpoint. */
const SECONDS = byProfile(1, 10);
const CONNECTIONS = 10;
/** Rounds of "twice capacity, all at once" per API. */
const ROUNDS = byProfile(2, 15);
const QUEUE_SIZE = 3;

let t: TestNode;
let http: Http;
const { logger, errors } = capturingLogger();

beforeAll(async () => {
  t = await startTestNode(
    { apiKeys: [KEY], queueSize: QUEUE_SIZE },
    { variant: "turbo", stopAfter: 12 },
    logger,
  );
  http = new Http(t.url, { headers: AUTH });
  // Something for the lists to list.
  for (let i = 0; i < 5; i++) {
    const { id } = trpcData<{ id: string }>(
      await http.postJson("/trpc/tts.synthesize", { text: `Listed ${i}.`, maxTokens: 3 }),
    );
    await waitFor(
      `job ${id}`,
      async () => trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id }))).status,
      (status) => status === "done",
    );
  }
});

afterAll(async () => {
  if (errors.length > 0) console.log("error-level log lines:", JSON.stringify(errors.slice(0, 20), null, 2));
  await http?.close();
  await t?.stop();
});

function cannon(path: string, headers: Record<string, string>): Promise<autocannon.Result> {
  return autocannon({
    url: `${t.url}${path}`,
    headers,
    connections: CONNECTIONS,
    duration: SECONDS,
    workers: 1,
  });
}

describe("sustained query traffic", () => {
  it(`health, /healthz, tts.list and voices.list for ${SECONDS} s each at ${CONNECTIONS} connections: all 2xx`, async () => {
    const targets = [
      { name: "GET /healthz", path: "/healthz" },
      { name: "health (tRPC)", path: "/trpc/health" },
      { name: "tts.list (authenticated)", path: trpcQuery("tts.list", { limit: 50 }) },
      { name: "voices.list (authenticated)", path: "/trpc/voices.list" },
    ];
    const figures: Figure[] = [];
    for (const target of targets) {
      const result = await cannon(target.path, AUTH);
      const where = `${target.name}: ${JSON.stringify(result.statusCodeStats)} errors ${result.errors} timeouts ${result.timeouts}`;
      expect(result.requests.total, where).toBeGreaterThan(0);
      expect(result.non2xx, where).toBe(0);
      expect(result.errors, where).toBe(0);
      expect(result.timeouts, where).toBe(0);
      figures.push(
        { name: `${target.name}: requests/s`, value: Math.round(result.requests.average), unit: "req/s" },
        {
          name: `${target.name}: latency p50 / p99 / max`,
          value: `${result.latency.p50} / ${result.latency.p99} / ${result.latency.max}`,
          unit: "ms",
        },
        {
          name: `${target.name}: requests (non-2xx, errors)`,
          value: `${result.requests.total} (${result.non2xx}, ${result.errors})`,
        },
      );
    }
    // Refusals under load are as cheap and as clean: no key, every answer a 401.
    const refused = await cannon(trpcQuery("tts.list", { limit: 50 }), {});
    expect(Object.keys(refused.statusCodeStats ?? {})).toEqual(["401"]);
    expect(refused.errors).toBe(0);
    figures.push({
      name: "tts.list without a key: requests/s (all 401)",
      value: Math.round(refused.requests.average),
      unit: "req/s",
    });
    report(
      "load",
      `sustained queries (${SECONDS} s each, ${CONNECTIONS} connections, autocannon in a worker thread)`,
      figures,
    );
    await expectHealthy(t.url, "sustained query traffic", AUTH);
  });
});

describe("synthesis at twice capacity, all at once", () => {
  const capacity = () => t.settings.model.workers + QUEUE_SIZE;

  function expectRefusal(where: string, status: number, retryAfter: string | null, body: unknown) {
    expect(status, `${where}: ${JSON.stringify(body)}`).toBe(429);
    const seconds = Number(retryAfter);
    expect(
      Number.isFinite(seconds) && seconds >= 1 && seconds <= 3600,
      `${where}: Retry-After ${retryAfter}`,
    ).toBe(true);
    expect(errorMessage(body)).toMatch(/queue is full/i);
  }

  async function storedWav(id: string): Promise<Uint8Array> {
    const res = await fetch(`${t.url}/v1/audio/${id}`, { headers: AUTH });
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const check = checkWav(bytes);
    expect(check.reason, `stored audio of ${id}`).toBe("ok");
    return bytes;
  }

  it("tts.synthesize: accepted jobs all finish with intact audio, the rest are 429 with Retry-After", async () => {
    const offered = 2 * capacity();
    let accepted = 0;
    let refused = 0;
    const drainMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const replies = await Promise.all(
        Array.from({ length: offered }, (_, i) =>
          fetch(`${t.url}/trpc/tts.synthesize`, {
            method: "POST",
            headers: { "Content-Type": "application/json", ...AUTH },
            body: JSON.stringify({ text: `Round ${round}, request ${i}. A second sentence.`, format: "wav" }),
          }).then(async (res) => ({
            status: res.status,
            retryAfter: res.headers.get("retry-after"),
            body: await res.json(),
          })),
        ),
      );
      const ids: string[] = [];
      for (const reply of replies) {
        if (reply.status === 200)
          ids.push((reply.body as { result: { data: { id: string } } }).result.data.id);
        else expectRefusal("tts.synthesize", reply.status, reply.retryAfter, reply.body);
      }
      expect(ids.length, "the queue admits at least its own size").toBeGreaterThanOrEqual(QUEUE_SIZE);
      expect(ids.length).toBeLessThan(offered);
      accepted += ids.length;
      refused += offered - ids.length;
      const started = performance.now();
      for (const id of ids) {
        await expect
          .poll(
            async () => trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id }))).status,
            { timeout: 30_000 },
          )
          .toBe("done");
      }
      drainMs.push(performance.now() - started);
      for (const id of ids) {
        const job = trpcData<{ audio: { size: number } }>(await http.get(trpcQuery("tts.get", { id })));
        expect((await storedWav(id)).length).toBe(job.audio.size);
      }
      // Nothing lost: every accepted job is listed, done.
      const listed = trpcData<{ id: string; status: string }[]>(
        await http.get(trpcQuery("tts.list", { limit: 200 })),
      );
      for (const id of ids) expect(listed.find((j) => j.id === id)?.status).toBe("done");
    }
    report("load", "tts.synthesize at twice capacity", [
      { name: "capacity (workers + queue slots)", value: capacity() },
      { name: "rounds x requests offered at once", value: `${ROUNDS} x ${offered}` },
      { name: "accepted (all done, stored WAV intact)", value: accepted },
      { name: "429 with Retry-After", value: refused },
      { name: "5xx", value: 0 },
      ...(FULL
        ? [
            {
              name: "accepted jobs drained in (p50 / max)",
              value: `${Math.round(percentile(drainMs, 50))} / ${Math.round(Math.max(...drainMs))}`,
              unit: "ms",
            },
          ]
        : []),
    ]);
    await expectHealthy(t.url, "tts.synthesize overload", AUTH);
  });

  it("POST /v1/audio/speech: accepted streams are complete and match the stored file, the rest are 429 with Retry-After", async () => {
    const offered = 2 * capacity();
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const replies = await Promise.all(
        Array.from({ length: offered }, (_, i) =>
          fetch(`${t.url}/v1/audio/speech`, {
            method: "POST",
            headers: { "Content-Type": "application/json", ...AUTH },
            body: JSON.stringify({
              model: "tts-1",
              input: `Speech round ${round}, request ${i}. And more.`,
              response_format: "wav",
            }),
          }).then(async (res) => ({
            status: res.status,
            retryAfter: res.headers.get("retry-after"),
            id: res.headers.get("x-audio-id"),
            bytes: new Uint8Array(await res.arrayBuffer()),
          })),
        ),
      );
      let roundAccepted = 0;
      for (const reply of replies) {
        if (reply.status !== 200) {
          expectRefusal(
            "/v1/audio/speech",
            reply.status,
            reply.retryAfter,
            JSON.parse(Buffer.from(reply.bytes).toString("utf8")),
          );
          continue;
        }
        roundAccepted++;
        // The stream was whole (it decodes), and it is the stored file's audio, sample for sample.
        const streamed = decodeWav(reply.bytes);
        const stored = decodeWav(await storedWav(reply.id!));
        expect(streamed.samples.length).toBeGreaterThan(0);
        expect(stored.samples.length).toBe(streamed.samples.length);
      }
      expect(roundAccepted).toBeGreaterThanOrEqual(QUEUE_SIZE);
      expect(roundAccepted).toBeLessThan(offered);
      accepted += roundAccepted;
      refused += offered - roundAccepted;
    }
    report("load", "POST /v1/audio/speech at twice capacity", [
      { name: "capacity (workers + queue slots)", value: capacity() },
      { name: "rounds x requests offered at once", value: `${ROUNDS} x ${offered}` },
      { name: "accepted (stream whole, equal to the stored WAV)", value: accepted },
      { name: "429 with Retry-After", value: refused },
      { name: "5xx", value: 0 },
    ]);
    await expectHealthy(t.url, "/v1/audio/speech overload", AUTH);
  });
});
