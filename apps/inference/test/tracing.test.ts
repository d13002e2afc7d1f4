import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { startTracing, type Tracing } from "@tts/api/tracing";
import { InMemorySpanExporter, type ReadableSpan } from "@tts/api/tracing/testing";

import { splitText } from "../src/engine/text-split";
import { settleJob, startTestNode, type TestNode } from "./support/node";

/**
 * Tracing end to end, in one process: the test's own span stands for a caller (a Next.js render), the typed client
 * carries its context in `traceparent`, and a real node (tiny bundle, real workers) continues the trace through
 * its request span and the procedure to the job it queues. Every span lands in memory.
 */
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let t: TestNode;

beforeAll(async () => {
  tracing = await startTracing({ serviceName: "tts-inference-test", exporter });
  // No stop token: a job runs until its token limit, so one can be cancelled while it runs.
  t = await startTestNode({ apiKeys: ["test-key-0123456789abcdef"] }, { variant: "turbo", stopAfter: null });
});

afterAll(async () => {
  await t?.stop();
  await tracing?.shutdown();
});

beforeEach(() => exporter.reset());

const KEY = "test-key-0123456789abcdef";
const TEXT = "The quick brown fox jumps over the lazy dog. Then it naps in the sun.";

/** Runs `fn` in a CLIENT span standing for the caller; returns what `fn` returned and the span's context. */
async function asCaller<T>(fn: () => Promise<T>) {
  return trace.getTracer("test").startActiveSpan("caller", { kind: SpanKind.CLIENT }, async (span) => {
    try {
      return { value: await fn(), caller: span.spanContext() };
    } finally {
      span.end();
    }
  });
}

/** The finished span matching `match`, waiting for it (a job's span ends just after its status is visible). */
async function finished(match: (span: ReadableSpan) => boolean): Promise<ReadableSpan> {
  for (let i = 0; i < 200; i++) {
    const found = exporter.getFinishedSpans().find(match);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(
    `no such span among ${exporter
      .getFinishedSpans()
      .map((s) => s.name)
      .join(", ")}`,
  );
}

const jobSpanOf = (id: string) => (span: ReadableSpan) =>
  span.name === "tts.job" && span.attributes["tts.job.id"] === id;

describe("one trace from a caller to the job it started", () => {
  it("caller -> node request (SERVER) -> procedure -> tts.job, by parent span ids and one trace id", async () => {
    const { value: job, caller } = await asCaller(() =>
      t.client(KEY).tts.synthesize.mutate({ text: TEXT, maxTokens: 4, format: "wav" }),
    );
    const done = await settleJob(t, job.id, KEY);
    expect(done.status).toBe("done");

    const server = await finished(
      (span) => span.kind === SpanKind.SERVER && span.name === "POST /trpc/tts.synthesize",
    );
    expect(server.spanContext().traceId).toBe(caller.traceId);
    // Its parent is the caller's span, known only from the header: a remote parent.
    expect(server.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/trpc/tts.synthesize",
      "url.path": "/trpc/tts.synthesize",
      "http.response.status_code": 200,
      "trpc.procedures": ["tts.synthesize"],
    });
    expect(server.resource.attributes["service.name"]).toBe("tts-inference-test");

    const procedure = await finished((span) => span.name === "tts.synthesize");
    expect(procedure.spanContext().traceId).toBe(caller.traceId);
    expect(procedure.parentSpanContext?.spanId).toBe(server.spanContext().spanId);

    const jobSpan = await finished(jobSpanOf(job.id));
    expect(jobSpan.spanContext().traceId).toBe(caller.traceId);
    expect(jobSpan.parentSpanContext?.spanId).toBe(procedure.spanContext().spanId);
    expect(jobSpan.status.code).toBe(SpanStatusCode.OK);
    expect(jobSpan.attributes).toMatchObject({
      "tts.job.status": "done",
      "tts.job.characters": TEXT.length,
      "tts.job.chunks": splitText(TEXT, t.settings.split).length,
      "tts.job.format": "wav",
      "tts.job.tokens": done.tokens,
      "tts.job.audio_seconds": done.audio?.durationSeconds,
    });
    expect(jobSpan.attributes["tts.job.queue_wait_ms"]).toBeGreaterThanOrEqual(0);

    // Nothing secret or private on any span: no key, no text.
    const everything = JSON.stringify(
      exporter.getFinishedSpans().map((span) => ({ ...span.attributes, events: span.events })),
    );
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain("quick brown fox");
  });

  it("a job that waited for a worker stays in the trace of the request that queued it", async () => {
    // One worker: the second job waits for the first, and starts when the first one's worker comes free.
    const [first, second] = await Promise.all(
      [600, 4].map((maxTokens) =>
        asCaller(() => t.client(KEY).tts.synthesize.mutate({ text: TEXT, maxTokens, format: "wav" })),
      ),
    );
    for (const { value } of [first!, second!])
      expect((await settleJob(t, value.id, KEY)).status).toBe("done");
    for (const { value, caller } of [first!, second!]) {
      const jobSpan = await finished(jobSpanOf(value.id));
      const procedure = await finished(
        (span) => span.name === "tts.synthesize" && span.spanContext().traceId === caller.traceId,
      );
      expect(jobSpan.spanContext().traceId).toBe(caller.traceId);
      expect(jobSpan.parentSpanContext?.spanId).toBe(procedure.spanContext().spanId);
    }
    const waited = (await finished(jobSpanOf(second!.value.id))).attributes["tts.job.queue_wait_ms"];
    expect(waited).toBeGreaterThan(0);
  });

  it("a cancelled job's span ends cancelled, below the request that created it", async () => {
    const { value: job, caller } = await asCaller(() =>
      t.client(KEY).tts.synthesize.mutate({ text: TEXT, maxTokens: 4000, format: "wav" }),
    );
    const cancelled = await t.client(KEY).tts.cancel.mutate({ id: job.id });
    expect(cancelled.status).toBe("cancelled");
    const jobSpan = await finished(jobSpanOf(job.id));
    expect(jobSpan.spanContext().traceId).toBe(caller.traceId);
    expect(jobSpan.attributes).toMatchObject({
      "tts.job.status": "cancelled",
      "tts.job.error_code": "CLIENT_CLOSED_REQUEST",
    });
    expect(jobSpan.status.code).toBe(SpanStatusCode.UNSET);
    // The cancel request is a trace of its own: nothing of the caller's leaked into it.
    const cancel = await finished((span) => span.name === "POST /trpc/tts.cancel");
    expect(cancel.spanContext().traceId).not.toBe(caller.traceId);
    expect(cancel.parentSpanContext).toBeUndefined();
  });
});

describe("the node continues a trace it is handed", () => {
  it("a request's traceparent makes the node's request span a child of that remote span", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const res = await fetch(`${t.url}/readyz`, { headers: { traceparent: `00-${traceId}-${parentId}-01` } });
    expect(res.status).toBe(200);
    const server = await finished((span) => span.name === "GET /readyz");
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.spanContext().traceId).toBe(traceId);
    expect(server.parentSpanContext).toMatchObject({ traceId, spanId: parentId, isRemote: true });
    expect(server.attributes).toMatchObject({ "http.route": "/readyz", "http.response.status_code": 200 });
  });

  it("without one, the request starts a trace; unknown tRPC paths are not span names", async () => {
    const res = await fetch(`${t.url}/trpc/no.such.procedure,health`, {
      headers: { Authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(404);
    const server = await finished((span) => span.kind === SpanKind.SERVER);
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.name).toBe("GET /trpc");
    expect(server.attributes["url.path"]).toBe("/trpc/no.such.procedure,health");
    expect(server.attributes).not.toHaveProperty("trpc.procedures");
  });
});
