// Hostile HTTP: what a broken or malicious client can send at the protocol level (odd request targets, bad
// escapes, oversized and trickled headers, tRPC batch floods, path traversal, bodies and streams cut halfway,
// malformed JSON, empty and huge texts). Each case asserts a 4xx (or a closed connection), never a 5xx, never a
// file's contents; then the node must still answer /healthz and synthesize (`expectHealthy`).
import { writeFileSync } from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";

import { encodeWav } from "@tts/audio";

import { syntheticVoice } from "../../src/engine/synthetic-voice";
import { MAX_BATCH_SIZE } from "../../src/http/server";
import { startTestNode, type TestNode } from "../support/node";
import {
  capturingLogger,
  checkWav,
  errorMessage,
  expectHealthy,
  Http,
  metric,
  rawExchange,
  rawRequest,
  sleep,
  trpcData,
  trpcQuery,
  type RawReply,
  type Reply,
} from "./support";

/** Shortened for the test (the mechanism is Node's; the production values are asserted first). */
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 3_000;
const SECRET = `TOP-SECRET-${process.pid}-${Date.now()}`;
const LEAKS = [/root:x?:0:0/, new RegExp(SECRET)];

let t: TestNode;
let http: Http;
const { logger, errors } = capturingLogger();

beforeAll(async () => {
  // A bundle that never stops on its own: syntheses last exactly maxTokens, so a stream can be cut mid-way.
  t = await startTestNode({ maxTextLength: 300 }, { variant: "turbo", stopAfter: null }, logger);
  // connectionsCheckingInterval is a documented Server property that @types/node does not declare.
  const server = t.node.server as typeof t.node.server & { connectionsCheckingInterval: number };
  // The production limits: a slow client is cut after 20 s of headers and 300 s of body; 16 KB of headers.
  expect(server.headersTimeout).toBeGreaterThan(0);
  expect(server.headersTimeout).toBeLessThanOrEqual(60_000);
  expect(server.requestTimeout).toBeGreaterThan(0);
  expect(server.requestTimeout).toBeLessThanOrEqual(600_000);
  // Node reads these on every check, and the check interval when the server starts listening: shortened here
  // so the slow-client cases take seconds, and re-armed by replaying "listening" (only Node's own tracker
  // listens for it once the node is up).
  server.connectionsCheckingInterval = 200;
  server.emit("listening");
  // A file beside the node's data that no request may ever read.
  writeFileSync(path.join(t.settings.dataDir, "secret.bin"), SECRET);
  writeFileSync(path.join(t.settings.dataDir, "audio", "secret.bin"), SECRET);
  http = new Http(t.url);
});

afterAll(async () => {
  await http?.close();
  await t?.stop();
  if (errors.length > 0) console.log("error-level log lines:", JSON.stringify(errors, null, 2));
});

function expectNoLeak(where: string, text: string) {
  for (const leak of LEAKS) expect(text, `${where} leaked a file's contents`).not.toMatch(leak);
}

/** A JSON error body from the node's own routes: code and message. */
function expectJsonError(where: string, reply: RawReply | Reply) {
  const text = "raw" in reply ? reply.body : reply.text;
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${where} answered ${reply.status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
  // A tRPC batch answers with one error per call.
  for (const answer of Array.isArray(json) ? (json as unknown[]) : [json])
    expect(errorMessage(answer) ?? "", `${where}: ${text.slice(0, 300)}`).toMatch(/\S/);
}

function expectStatus(where: string, reply: RawReply | Reply, allowed: readonly number[]) {
  const text = "raw" in reply ? reply.raw : reply.text;
  expect(allowed, `${where} answered ${reply.status}: ${text.slice(0, 400)}`).toContain(reply.status);
  expectNoLeak(where, text);
}

const get = (target: string, extra = "") =>
  rawRequest(t.url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`);

const voiceWav = () => encodeWav(syntheticVoice(3, 7), 24_000);

function multipart(bytes: Uint8Array, name = "Cut"): { boundary: string; body: Buffer } {
  const boundary = `----reliability${Date.now()}`;
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n${name}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="v.wav"\r\n` +
        "Content-Type: audio/wav\r\n\r\n",
    ),
    Buffer.from(bytes),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { boundary, body };
}

describe("protocol-level abuse", () => {
  it("malformed request targets: 400 (or routed as the path they name), never a crash", async () => {
    const cases: [string, number[]][] = [
      ["//x:99999", [400]],
      ["//x/healthz", [400]],
      ["*", [400]],
      ["http://evil/healthz", [200]], // absolute form addresses this server's own routes
      ["http://evil:99999/healthz", [400]],
      ["http://evil/../../etc/passwd", [404]],
      ["https://evil/v1/audio/..%2f..%2fetc%2fpasswd", [400]],
      ["ftp://evil/healthz", [400]],
      ["javascript:alert(1)", [400]],
      ["mailto:root@localhost", [400]],
      ["/\\evil/healthz", [404]],
      ["/%", [404]],
      ["/healthz?" + "q=1&".repeat(3_000), [200]],
      ["/" + "a/".repeat(6_000), [404]],
      ["/trpc/", [404]],
      ["/trpc", [404]],
      ["/trpc/..%2f..%2fhealthz", [400, 404]],
      ["/v1/audio/", [404]],
      ["/v1/audio/x/y", [404]],
    ];
    for (const [target, allowed] of cases) {
      const reply = await get(target);
      expectStatus(`GET ${target.slice(0, 60)}`, reply, allowed);
      // Answered by the node (not refused by Node's HTTP parser first): a JSON error naming the problem.
      if (reply.status !== 200 && /^x-request-id:/im.test(reply.head))
        expectJsonError(`GET ${target.slice(0, 60)}`, reply);
    }
    // Malformed at the HTTP level: Node's parser answers 400 (or drops the connection) before any handler runs.
    for (const message of [
      "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
      "FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\n\r\n", // no Host
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n",
      "CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
      // Request smuggling shapes: both lengths, negative and conflicting lengths, a bad chunk size.
      "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ]) {
      const reply = await rawRequest(t.url, Buffer.from(message, "latin1"));
      const where = `raw ${JSON.stringify(message.slice(0, 50))}`;
      if (!Number.isNaN(reply.status)) expectStatus(where, reply, [400, 404, 405, 505]);
    }
    await expectHealthy(t.url, "malformed request targets");
  });

  const percentCases = async (targets: readonly string[]) => {
    for (const target of targets) {
      for (const method of ["GET", "HEAD"]) {
        const reply = await rawRequest(
          t.url,
          `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        // /healthz and /metrics ignore what they do not read; everything else refuses (tRPC answers HEAD 204).
        expectStatus(
          `${method} ${target}`,
          reply,
          method === "HEAD" ? [200, 204, 400, 404, 405] : [200, 400, 404, 405],
        );
        if (method === "GET" && reply.status >= 400) expectJsonError(`${method} ${target}`, reply);
      }
    }
  };

  it("bad percent-escapes in /v1 ids and queries: 400 with the segment named, or 404; never a 500", async () => {
    await percentCases([
      "/v1/audio/%zz",
      "/v1/audio/%",
      "/v1/audio/%E0%A4%A",
      "/v1/audio/%c0%af",
      "/v1/audio/%ff%fe",
      "/v1/audio/%00",
      "/v1/audio/%ed%a0%80", // an encoded lone surrogate
      "/v1/audio/tts_%zzabcdefgh",
      "/v1/audio/%25zz",
      "/trpc/tts.get?input=%zz",
      "/trpc/tts.get?input=%7B%22id%22%3A%25zz",
      "/trpc/tts.get?batch=1&input=%zz",
      "/trpc/health?input=%",
      "/healthz%zz",
      "/metrics?%zz=%zz",
    ]);
    await expectHealthy(t.url, "bad percent-escapes");
  });

  it("bad percent-escapes in a tRPC procedure path: 400 or 404, never a 500", async () => {
    await percentCases([
      "/trpc/%zz",
      "/trpc/tts.get%zz",
      "/trpc/%E0%A4%A",
      "/trpc/health,%zz?batch=1",
      "/trpc/%ed%a0%80",
    ]);
    await expectHealthy(t.url, "bad percent-escapes in tRPC paths");
  });

  it("oversized headers (200 KB in one header, in many, or in the target): 431, and the node serves on", async () => {
    const big = "a".repeat(200 * 1024);
    const messages = [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 5_000 }, (_, i) => `X-H${i}: ${"b".repeat(32)}\r\n`).join("")}\r\n`,
      `GET /healthz?${big} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `POST /trpc/tts.synthesize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nCookie: ${big}\r\nContent-Length: 13\r\n\r\n{"text":"hi"}`,
    ];
    for (const message of messages) {
      // Sent 16 KB at a time and stopped once the server answers: writing all of it into a socket the server has
      // already reset could discard the answer before it is read.
      const reply = await rawExchange(t.url, async (socket, answered) => {
        const bytes = Buffer.from(message, "latin1");
        for (let offset = 0; offset < bytes.length && !answered() && !socket.destroyed; offset += 16_384) {
          await new Promise<void>((resolve) =>
            socket.write(bytes.subarray(offset, offset + 16_384), () => resolve()),
          );
          await sleep(5);
        }
        if (!socket.destroyed) socket.end();
      });
      expect(reply.status, `oversized headers: ${reply.raw.slice(0, 200)} ${reply.error ?? ""}`).toBe(431);
    }
    // Just under the limit still works: the limit refuses abuse, not ordinary clients.
    const under = await get("/healthz", `X-Under: ${"c".repeat(12 * 1024)}\r\n`);
    expect(under.status).toBe(200);
    await expectHealthy(t.url, "oversized headers");
  });

  it("slow clients trickling headers or a body are cut (408 or closed), and others are served meanwhile", async () => {
    // Shortened for this case only, so it takes seconds; the other cases run under the production limits (a
    // 3 s request limit would also cut ordinary requests on a loaded machine).
    const server = t.node.server;
    const production = { headers: server.headersTimeout, request: server.requestTimeout };
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    onTestFinished(() => {
      server.headersTimeout = production.headers;
      server.requestTimeout = production.request;
    });
    const trickle = (head: string, drip: string) =>
      rawExchange(
        t.url,
        async (socket) => {
          socket.write(head);
          // A byte or a header line every 100 ms, forever: only the server's timeouts end this.
          while (!socket.destroyed && socket.writable) {
            await sleep(100);
            if (!socket.destroyed && socket.writable) socket.write(drip);
          }
        },
        REQUEST_TIMEOUT_MS + 10_000,
      );
    const started = performance.now();
    const slowHeaders = Array.from({ length: 10 }, (_, i) =>
      trickle(`GET /healthz HTTP/1.1\r\nHost: x\r\n`, `X-Slow-${i}: y\r\n`),
    );
    const slowBodies = Array.from({ length: 5 }, () =>
      trickle(
        `POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"model":"tts-1","input":"`,
        "a",
      ),
    );
    const slowUpload = trickle(
      "POST /trpc/voices.create HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n",
      "x",
    );
    // While the trickles hang on, ordinary clients are served.
    for (let i = 0; i < 5; i++) {
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      await sleep(100);
    }
    const headerReplies = await Promise.all(slowHeaders);
    const bodyReplies = await Promise.all([...slowBodies, slowUpload]);
    for (const reply of headerReplies) {
      // Node answers 408 when it can; either way the connection must be closed by the server.
      if (!Number.isNaN(reply.status)) expect(reply.status, reply.raw.slice(0, 200)).toBe(408);
      expect(reply.ms).toBeLessThan(HEADERS_TIMEOUT_MS + 5_000);
    }
    for (const reply of bodyReplies) {
      if (!Number.isNaN(reply.status))
        expect([400, 408, 413], reply.raw.slice(0, 200)).toContain(reply.status);
      expect(reply.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 5_000);
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS);
    await expectHealthy(t.url, "slow clients");
  });
});

describe("tRPC batches", () => {
  const batch = (paths: string[], inputs?: Record<string, unknown>) =>
    `/trpc/${paths.join(",")}?batch=1&input=${encodeURIComponent(JSON.stringify(inputs ?? {}))}`;

  it(`more than MAX_BATCH_SIZE (${MAX_BATCH_SIZE}) calls in one request is a 4xx, before any call runs`, async () => {
    const full = await http.get(batch(Array<string>(MAX_BATCH_SIZE).fill("health")));
    expect(full.status).toBe(200);
    expect(full.json).toHaveLength(MAX_BATCH_SIZE);
    const over = await http.get(batch(Array<string>(MAX_BATCH_SIZE + 1).fill("health")));
    expect(over.status, over.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(over.status).toBeLessThan(500);
    const huge = await http.get(batch(Array<string>(1_500).fill("health")));
    expect([400, 413, 414, 431]).toContain(huge.status);

    // An oversized batch of mutations queues nothing: the limit is checked before the calls run.
    const jobsBefore = trpcData<unknown[]>(await http.get(trpcQuery("tts.list", { limit: 200 }))).length;
    const inputs = Object.fromEntries(
      Array.from({ length: MAX_BATCH_SIZE + 5 }, (_, i) => [i, { text: "Batch flood.", maxTokens: 2 }]),
    );
    const mutations = await http.postJson(
      `/trpc/${Array<string>(MAX_BATCH_SIZE + 5)
        .fill("tts.synthesize")
        .join(",")}?batch=1`,
      inputs,
    );
    expect(mutations.status, mutations.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(mutations.status).toBeLessThan(500);
    expect(trpcData<unknown[]>(await http.get(trpcQuery("tts.list", { limit: 200 }))).length).toBe(
      jobsBefore,
    );
    await expectHealthy(t.url, "an oversized batch");
  });

  it("odd batches: unknown procedures, subscriptions, inputs that are not an index map", async () => {
    for (const [target, method] of [
      [batch(["nope", "health"]), "GET"],
      [batch(["tts.progress", "tts.progress"], { 0: { id: "tts_aaaaaaaaaaaa" } }), "GET"],
      [`/trpc/health,health?batch=1&input=${encodeURIComponent("[1,2]")}`, "GET"],
      [`/trpc/health,health?batch=1&input=null`, "GET"],
      [`/trpc/health,health?batch=1&input=%22x%22`, "GET"],
      [`/trpc/health,health?batch=1&input={`, "GET"],
      [`/trpc/tts.get,tts.get?batch=1&input=${encodeURIComponent('{"999":{"id":"x"},"-1":{}}')}`, "GET"],
      [`/trpc/,,,?batch=1`, "GET"],
      [`/trpc/health,?batch=1`, "GET"],
      [`/trpc/health?batch=0`, "GET"],
      [`/trpc/health?batch=true`, "GET"],
      [`/trpc/tts.synthesize,health?batch=1`, "POST"],
    ] as const) {
      const reply = await http.request(method, target, {
        headers: { "Content-Type": "application/json" },
        body: method === "POST" ? "{}" : undefined,
      });
      expect(reply.status, `${method} ${target}: ${reply.text.slice(0, 300)}`).toBeLessThan(500);
      expect(reply.json, `${method} ${target} is JSON`).toBeDefined();
    }
    await expectHealthy(t.url, "odd batches");
  });

  it("many concurrent full batches: every call answered, nothing 5xx", async () => {
    const paths = Array.from(
      { length: MAX_BATCH_SIZE },
      (_, i) => ["health", "tts.list", "voices.list"][i % 3]!,
    );
    const replies = await Promise.all(Array.from({ length: 100 }, () => http.get(batch(paths))));
    for (const reply of replies) {
      expect(reply.status, reply.text.slice(0, 300)).toBe(200);
      expect(reply.json).toHaveLength(MAX_BATCH_SIZE);
    }
    await expectHealthy(t.url, "concurrent batches");
  });
});

describe("subscriptions", () => {
  it("tts.progress for an unknown id: a NOT_FOUND error event, not an internal error (nor an error-level log line)", async () => {
    const before = errors.length;
    const res = await fetch(`${t.url}${trpcQuery("tts.progress", { id: "tts_doesnotexist00" })}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    const event = /event: serialized-error\ndata: (.*)\n/.exec(text)?.[1];
    expect(event, text).toBeDefined();
    const shape = JSON.parse(event!) as { message: string; data: { code: string; httpStatus: number } };
    expect(shape.message).toMatch(/No job with id tts_doesnotexist00/);
    expect(shape.data, "the error event's code").toMatchObject({ code: "NOT_FOUND", httpStatus: 404 });
    // A client-caused 404 is not the operator's problem: nothing at error level.
    expect(errors.slice(before)).toEqual([]);
  });
});

describe("path traversal on /v1/audio/{id}", () => {
  it("never serves a file outside the audio store: 400 or 404 for every encoding of ../", async () => {
    const voice = trpcData<{ id: string }>(
      await (async () => {
        const { boundary, body } = multipart(voiceWav(), "Traversal");
        return http.request("POST", "/trpc/voices.create", {
          headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
          body,
        });
      })(),
    );
    const payloads = [
      "..%2f..%2fetc%2fpasswd",
      "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
      "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "%2e%2e/%2e%2e/etc/passwd",
      "..%5c..%5cetc%5cpasswd",
      "..%252f..%252fetc%252fpasswd",
      "%252e%252e%252fetc%252fpasswd",
      "..%c0%af..%c0%afetc%c0%afpasswd",
      "..%e0%80%af..%e0%80%afetc",
      "%2fetc%2fpasswd",
      "%2Fetc%2Fpasswd",
      "..%2fsecret.bin",
      "..%2f..%2fsecret.bin",
      "secret.bin",
      "secret",
      "..",
      "%2e%2e",
      ".",
      "%00..%2f..%2fetc%2fpasswd",
      "tts_aaaaaaaa%00..%2f..%2fetc%2fpasswd",
      "..%2fvoices%2f" + voice.id,
      "..%2fvoices%2f" + voice.id + ".bin",
      voice.id, // a voice is not audio
      encodeURIComponent(`${voice.id}.bin`),
      "tts_" + "a".repeat(60),
      "tts_" + "a".repeat(200),
      "a".repeat(5_000),
    ];
    for (const payload of payloads) {
      for (const method of ["GET", "HEAD"]) {
        const reply = await rawRequest(
          t.url,
          `${method} /v1/audio/${payload} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\nConnection: close\r\n\r\n`,
        );
        expectStatus(`${method} /v1/audio/${payload.slice(0, 60)}`, reply, [400, 404]);
      }
      // And through fetch, which normalizes some of these before sending.
      const viaFetch = await fetch(`${t.url}/v1/audio/${payload}`);
      const text = await viaFetch.text();
      expect([400, 404], `fetch /v1/audio/${payload.slice(0, 60)}: ${text.slice(0, 200)}`).toContain(
        viaFetch.status,
      );
      expectNoLeak(`fetch /v1/audio/${payload.slice(0, 60)}`, text);
    }
    // tRPC ids are checked the same way.
    for (const id of ["../../etc/passwd", "..\\..\\secret", `../voices/${voice.id}`, "secret"]) {
      const reply = await http.get(trpcQuery("tts.get", { id }));
      expect(reply.status).toBe(400);
      expectNoLeak(`tts.get ${id}`, reply.text);
    }
    await expectHealthy(t.url, "path traversal");
  });
});

describe("clients that go away", () => {
  it("a voice upload cut halfway stores nothing and leaves the node serving (and uploading)", async () => {
    const voicesBefore = trpcData<unknown[]>(await http.get("/trpc/voices.list")).length;
    const { boundary, body } = multipart(voiceWav());
    for (let i = 0; i < 8; i++) {
      const cutAt = Math.floor(body.length * (0.1 + 0.1 * i));
      const reply = await rawExchange(t.url, async (socket) => {
        socket.write(
          `POST /trpc/voices.create HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
            `Content-Length: ${body.length}\r\n\r\n`,
        );
        socket.write(body.subarray(0, cutAt));
        await sleep(30);
        socket.destroy();
      });
      expect(Number.isNaN(reply.status) || reply.status < 500, reply.raw.slice(0, 200)).toBe(true);
    }
    // Chunked, cut inside a chunk.
    await rawExchange(t.url, async (socket) => {
      socket.write(
        `POST /trpc/voices.create HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          "Transfer-Encoding: chunked\r\n\r\n",
      );
      socket.write(`${body.length.toString(16)}\r\n`);
      socket.write(body.subarray(0, body.length >> 1));
      await sleep(30);
      socket.destroy();
    });
    await sleep(200);
    expect(trpcData<unknown[]>(await http.get("/trpc/voices.list"))).toHaveLength(voicesBefore);
    // The cut uploads hold no quota or lock: a whole one still works.
    const whole = await http.request("POST", "/trpc/voices.create", {
      headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(whole.status, whole.text.slice(0, 300)).toBe(200);
    await expectHealthy(t.url, "cut uploads");
  });

  it("JSON bodies cut halfway (speech, synthesize): no job starts, nothing hangs", async () => {
    const cancelledBefore = await metric(t.url, 'tts_jobs_total{outcome="cancelled"}');
    const jobsBefore = trpcData<unknown[]>(await http.get(trpcQuery("tts.list", { limit: 200 }))).length;
    for (const target of ["/v1/audio/speech", "/trpc/tts.synthesize"]) {
      for (let i = 0; i < 5; i++) {
        await rawExchange(t.url, async (socket) => {
          socket.write(
            `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n` +
              '{"model":"tts-1","text":"Cut","input":"Cut',
          );
          await sleep(20);
          socket.destroy();
        });
      }
    }
    await sleep(200);
    expect(trpcData<unknown[]>(await http.get(trpcQuery("tts.list", { limit: 200 }))).length).toBe(
      jobsBefore,
    );
    expect(await metric(t.url, "tts_jobs_in_flight")).toBe(0);
    expect(await metric(t.url, 'tts_jobs_total{outcome="cancelled"}')).toBe(cancelledBefore);
    await expectHealthy(t.url, "cut JSON bodies");
  });

  it("a client that goes away mid-body is not logged as a server failure (error level is for the operator)", async () => {
    const before = errors.length;
    for (const target of ["/v1/audio/speech", "/trpc/tts.synthesize", "/trpc/voices.create"]) {
      await rawExchange(t.url, async (socket) => {
        socket.write(
          `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"input":"Cut`,
        );
        await sleep(20);
        socket.destroy();
      });
    }
    await sleep(200);
    expect(
      errors
        .slice(before)
        .map((line) => ({ msg: line.msg, err: (line.err as { message?: string })?.message })),
    ).toEqual([]);
  });

  it("a /v1/audio/speech stream aborted mid-way cancels its job and frees the worker (audio and SSE)", async () => {
    for (const stream_format of ["audio", "sse"]) {
      const cancelledBefore = await metric(t.url, 'tts_jobs_total{outcome="cancelled"}');
      const controller = new AbortController();
      const res = await fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: "tts-1",
          input: "A stream nobody finishes reading.",
          max_tokens: 4000,
          response_format: "mp3",
          stream_format,
        }),
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      const id = res.headers.get("x-audio-id")!;
      const reader = res.body!.getReader();
      await reader.read();
      controller.abort();
      await reader.read().catch(() => undefined);
      await expect
        .poll(() => metric(t.url, 'tts_jobs_total{outcome="cancelled"}'), { timeout: 10_000 })
        .toBe(cancelledBefore + 1);
      const job = trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id })));
      expect(job.status).toBe("cancelled");
      expect(await metric(t.url, "tts_jobs_in_flight")).toBe(0);
      // The next synthesis does not wait for 4000 abandoned tokens.
      const started = performance.now();
      await expectHealthy(t.url, `an aborted ${stream_format} stream`);
      expect(performance.now() - started).toBeLessThan(10_000);
    }
  });

  it("live /v1/audio/{id} readers going away (one, then twenty at random moments) leave the job running and its file intact", async () => {
    const job = trpcData<{ id: string }>(
      await http.postJson("/trpc/tts.synthesize", { text: "Followed, then dropped.", maxTokens: 400 }),
    );
    await expect
      .poll(
        async () => trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id: job.id }))).status,
      )
      .toBe("running");
    const readers = Array.from({ length: 21 }, async (_, i) => {
      const controller = new AbortController();
      const res = await fetch(`${t.url}/v1/audio/${job.id}`, { signal: controller.signal });
      const reader = res.body!.getReader();
      await reader.read();
      await sleep(i === 0 ? 0 : Math.random() * 300);
      controller.abort();
      await reader.read().catch(() => undefined);
      return res.status;
    });
    expect(new Set(await Promise.all(readers))).toEqual(new Set([200]));
    const status = trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id: job.id }))).status;
    expect(["running", "done"]).toContain(status);
    await expect
      .poll(
        async () => trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id: job.id }))).status,
        { timeout: 30_000 },
      )
      .toBe("done");
    const stored = await fetch(`${t.url}/v1/audio/${job.id}`);
    const wav = checkWav(new Uint8Array(await stored.arrayBuffer()));
    expect(wav.reason).toBe("ok");

    // A long job whose live readers leave is not cancelled by them; deleting it is what stops it.
    const long = trpcData<{ id: string }>(
      await http.postJson("/trpc/tts.synthesize", { text: "Long and abandoned.", maxTokens: 4000 }),
    );
    const controller = new AbortController();
    const res = await fetch(`${t.url}/v1/audio/${long.id}`, { signal: controller.signal });
    await res.body!.getReader().read();
    controller.abort();
    await sleep(300);
    expect(trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id: long.id }))).status).toBe(
      "running",
    );
    expect((await http.postJson("/trpc/tts.delete", { id: long.id })).status).toBe(200);
    await expectHealthy(t.url, "abandoned live readers");
  });
});

describe("bodies: malformed JSON, prototype keys, empty and huge texts", () => {
  it("malformed or hostile JSON is a 4xx on every JSON route; __proto__ keys pollute nothing", async () => {
    const deepArray = "[".repeat(30_000) + "]".repeat(30_000);
    const deepObject = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
    const bodies: (string | Buffer)[] = [
      "",
      "{",
      "[",
      "null",
      "true",
      "1e999999",
      '"x"',
      '{"text":',
      '{"text":"hi","maxTokens":2}garbage',
      '{"text":"hi","maxTokens":2,"text":{"nested":true}}',
      "\ufeff" + '{"text":"hi","maxTokens":2,"model":"tts-1","input":"hi","max_tokens":2}',
      Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
      Buffer.from(
        '{"text":"\xff\xfe\xc0\xaf","maxTokens":2,"model":"tts-1","input":"\xff\xfe","max_tokens":2}',
        "latin1",
      ),
      deepArray,
      deepObject,
      `{"text":${deepArray}}`,
    ];
    const routes = [
      "/trpc/tts.synthesize",
      "/v1/audio/speech",
      "/trpc/voices.rename",
      "/trpc/tts.delete",
      "/trpc/voices.delete",
    ];
    for (const route of routes) {
      for (const body of bodies) {
        for (const contentType of ["application/json", "text/plain", "application/json; charset=utf-16"]) {
          const reply = await http.request("POST", route, { headers: { "Content-Type": contentType }, body });
          const where = `POST ${route} (${contentType}) ${JSON.stringify(String(body).slice(0, 40))}`;
          // Some of these parse (a BOM, invalid UTF-8 read as U+FFFD): a short job then, else a refusal.
          expect(reply.status, `${where}: ${reply.text.slice(0, 300)}`).toBeLessThan(500);
          if (reply.status >= 400) expect(errorMessage(reply.json), where).toMatch(/\S/);
        }
      }
    }
    const proto = await http.postJson(
      "/trpc/tts.synthesize",
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"text":"Proto.","maxTokens":2}',
    );
    expect(proto.status).toBe(200);
    const protoSpeech = await http.postJson(
      "/v1/audio/speech",
      '{"__proto__":{"polluted":"yes"},"model":"tts-1","input":"Proto.","max_tokens":2,"response_format":"pcm"}',
    );
    expect(protoSpeech.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    await expectHealthy(t.url, "malformed JSON");
  });

  it("empty, whitespace-only, invisible and odd texts: 400, or a job that completes", async () => {
    const texts = [
      "",
      "   ",
      "\n\t\r",
      "\u200b",
      "\u200b\u200c\u200d\ufeff",
      "\u0000",
      "\u0000hi\u0000",
      "\ud800",
      "a\udc00b",
      "\u202e\u202dreversed",
      "e\u0301".repeat(150),
      "🙂".repeat(150),
      "\u0007\u001b[31mred",
      ".,;:!?",
      "...",
      "-",
      "1234567890",
    ];
    for (const text of texts) {
      const where = `text ${JSON.stringify(text.slice(0, 20))}`;
      const job = await http.postJson("/trpc/tts.synthesize", { text, maxTokens: 8 });
      expect([200, 400], `${where}: ${job.text.slice(0, 300)}`).toContain(job.status);
      if (job.status === 200) {
        const { id } = trpcData<{ id: string }>(job);
        await expect
          .poll(
            async () => trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id }))).status,
            {
              timeout: 15_000,
            },
          )
          .toMatch(/^(done|failed)$/);
        const ended = trpcData<{ status: string; error: unknown }>(
          await http.get(trpcQuery("tts.get", { id })),
        );
        expect(ended.status, `${where} ended ${JSON.stringify(ended.error)}`).toBe("done");
      } else {
        expect(errorMessage(job.json), where).toMatch(/\S/);
      }
      const speech = await http.postJson("/v1/audio/speech", {
        model: "tts-1",
        input: text,
        max_tokens: 8,
        response_format: "wav",
      });
      expect([200, 400], `speech ${where}: ${speech.text.slice(0, 300)}`).toContain(speech.status);
    }
    await expectHealthy(t.url, "odd texts");
  });

  it("texts at and over the limit, and bodies far over the JSON cap (with and without a length): 400/413", async () => {
    const limit = t.settings.maxTextLength;
    const atLimit = await http.postJson("/trpc/tts.synthesize", { text: "a".repeat(limit), maxTokens: 2 });
    expect(atLimit.status, atLimit.text.slice(0, 300)).toBe(200);
    const over = await http.postJson("/trpc/tts.synthesize", { text: "a".repeat(limit + 1), maxTokens: 2 });
    expect(over.status).toBe(400);
    expect(errorMessage(over.json)).toMatch(/limit/);
    const speechOver = await http.postJson("/v1/audio/speech", {
      model: "tts-1",
      input: "a".repeat(t.settings.maxSpeechInputLength + 1),
    });
    expect(speechOver.status).toBe(400);

    // A 400/413; or, when the server answers early and closes while the client is still sending, a reset that
    // can reach the client before the answer does (the kernel drops unread data on RST): refused either way.
    const expectRefused = (where: string, reply: RawReply) => {
      if (Number.isNaN(reply.status) && /^(EPIPE|ECONNRESET)$/.test(reply.error ?? "")) return;
      expect([400, 413], `${where}: ${reply.raw.slice(0, 300)} ${reply.error ?? ""}`).toContain(reply.status);
    };
    const huge = Buffer.from(
      JSON.stringify({ model: "tts-1", input: "x".repeat(10 * 1024 * 1024), text: "x" }),
    );
    for (const route of ["/v1/audio/speech", "/trpc/tts.synthesize", "/trpc/voices.create"]) {
      // With a Content-Length: refused from the header or while it streams in.
      const declared = await rawExchange(t.url, async (socket, answered) => {
        socket.write(
          `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${huge.length}\r\nConnection: close\r\n\r\n`,
        );
        for (let offset = 0; offset < huge.length && !answered() && !socket.destroyed; offset += 65_536) {
          await new Promise<void>((resolve) =>
            socket.write(huge.subarray(offset, offset + 65_536), () => resolve()),
          );
        }
        if (!socket.destroyed) socket.end();
      });
      expectRefused(`${route} with a length`, declared);
      // Chunked, no length: refused once it passes the cap.
      const chunked = await rawExchange(t.url, async (socket, answered) => {
        socket.write(
          `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
        );
        for (let offset = 0; offset < huge.length && !answered() && !socket.destroyed; offset += 65_536) {
          const chunk = huge.subarray(offset, offset + 65_536);
          await new Promise<void>((resolve) =>
            socket.write(
              Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]),
              () => resolve(),
            ),
          );
        }
        if (!socket.destroyed) socket.end("0\r\n\r\n");
      });
      expectRefused(`${route} chunked`, chunked);
    }
    await expectHealthy(t.url, "huge bodies");
  });
});
