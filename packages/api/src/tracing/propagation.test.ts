import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { createTRPCClient } from "@trpc/client";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";

import { apiLinks } from "../client";
import type { ApiContext } from "../context";
import { appRouter, type AppRouter } from "../root";
import { testContext } from "../test-context";
import { startTracing, tracingActive, type Tracing } from "./index";
import { InMemorySpanExporter } from "./testing";

/**
 * A real tRPC server over HTTP that records every request's headers and, like the inference node, runs the
 * router inside the context its headers carry.
 */
async function recordingServer(
  ctx: ApiContext = testContext(),
  headers: Record<string, string> = { Authorization: "Bearer not-a-real-key" },
) {
  const seen: IncomingHttpHeaders[] = [];
  const handler = createHTTPHandler({ router: appRouter, createContext: () => ctx });
  const server = createServer((req, res) => {
    seen.push(req.headers);
    context.with(propagation.extract(ROOT_CONTEXT, req.headers), () => handler(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createTRPCClient<AppRouter>({
    links: apiLinks({ url, headers: () => headers }),
  });
  return { seen, client };
}

function voiceForm(): FormData {
  const form = new FormData();
  form.set("file", new File([new Uint8Array([82, 73, 70, 70, 0, 0])], "v.wav", { type: "audio/wav" }));
  form.set("name", "Ada");
  return form;
}

/** Runs `fn` inside a span of its own (a caller's span, say a Next.js render) and returns that span's ids. */
async function inSpan(fn: () => Promise<unknown>) {
  return trace.getTracer("test").startActiveSpan("caller", { kind: SpanKind.CLIENT }, async (span) => {
    try {
      await fn();
    } finally {
      span.end();
    }
    return span.spanContext();
  });
}

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

describe("trace context on the typed client's requests", () => {
  it("sends none while tracing is off, even inside a span: nothing is registered", async () => {
    tracing = await startTracing({ serviceName: "test", env: {} });
    expect(tracing.enabled).toBe(false);
    expect(tracingActive()).toBe(false);
    const { seen, client } = await recordingServer();
    const caller = await inSpan(() =>
      Promise.all([client.health.query(), client.voices.create.mutate(voiceForm())]),
    );
    // No provider: the "span" above is a no-op with an invalid context.
    expect(trace.isSpanContextValid(caller)).toBe(false);
    expect(seen).toHaveLength(2);
    for (const headers of seen) {
      expect(headers).not.toHaveProperty("traceparent");
      expect(headers).not.toHaveProperty("tracestate");
      expect(headers.authorization).toBe("Bearer not-a-real-key");
    }
  });

  it("sends the active span on batched calls and uploads while on, and none once shut down", async () => {
    const exporter = new InMemorySpanExporter();
    tracing = await startTracing({ serviceName: "test", exporter });
    expect(tracing.enabled).toBe(true);
    const { seen, client } = await recordingServer();
    const caller = await inSpan(() =>
      Promise.all([client.health.query(), client.voices.create.mutate(voiceForm())]),
    );
    expect(seen).toHaveLength(2);
    for (const headers of seen) {
      expect(headers.traceparent).toBe(`00-${caller.traceId}-${caller.spanId}-01`);
      expect(headers.authorization).toBe("Bearer not-a-real-key");
    }
    // Each procedure ran in a span of its own, a child of the caller's span across HTTP.
    const procedures = exporter.getFinishedSpans().filter((span) => span.attributes["rpc.system"] === "trpc");
    expect(procedures.map((span) => span.name).sort()).toEqual(["health", "voices.create"]);
    for (const span of procedures) {
      expect(span.spanContext().traceId).toBe(caller.traceId);
      expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
      expect(span.parentSpanContext?.isRemote).toBe(true);
    }

    await tracing.shutdown();
    expect(tracingActive()).toBe(false);
    seen.length = 0;
    await inSpan(() => client.health.query());
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toHaveProperty("traceparent");
  });

  it("keeps a caller's own traceparent", async () => {
    tracing = await startTracing({ serviceName: "test", exporter: new InMemorySpanExporter() });
    const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const { seen, client } = await recordingServer(testContext(), { traceparent: own });
    await inSpan(() => client.health.query());
    expect(seen[0]?.traceparent).toBe(own);
  });
});

describe("procedure spans", () => {
  it("name a caller's mistake without marking an error, and mark the server's failures", async () => {
    const exporter = new InMemorySpanExporter();
    tracing = await startTracing({ serviceName: "test", exporter });
    const failing = testContext({ principal: null });
    const broken = testContext({
      tts: { ...testContext().tts, get: () => Promise.reject(new Error("disk on fire")) },
    });
    const unauthorized = await recordingServer(failing);
    const internal = await recordingServer(broken);
    await inSpan(async () => {
      await expect(unauthorized.client.voices.list.query()).rejects.toThrow();
      await expect(internal.client.tts.get.query({ id: "tts_00000000" })).rejects.toThrow();
    });
    const [list, get] = ["voices.list", "tts.get"].map((name) =>
      exporter.getFinishedSpans().find((span) => span.name === name),
    );
    expect(list?.attributes["trpc.error_code"]).toBe("UNAUTHORIZED");
    expect(list?.status.code).toBe(SpanStatusCode.UNSET);
    expect(get?.attributes["trpc.error_code"]).toBe("INTERNAL_SERVER_ERROR");
    expect(get?.status.code).toBe(SpanStatusCode.ERROR);
    expect(get?.events.map((event) => event.name)).toEqual(["exception"]);
  });
});
