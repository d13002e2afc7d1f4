import type { IncomingMessage, ServerResponse } from "node:http";

import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from "@opentelemetry/api";

import { appRouter, type Job } from "@tts/api";
import { startTracing, tracingActive, TracingEnvError, type Tracing } from "@tts/api/tracing";

import { requestContext, type Logger } from "./logger";

/**
 * The node's spans: one SERVER span per HTTP request (continuing the caller's trace from its `traceparent`) and
 * one `tts.job` span per synthesis job, a child of the request that created it. Without tracing every function
 * here returns at once. Attribute names follow OpenTelemetry's HTTP conventions; nothing secret rides on a span
 * (no header values, no query strings, which may hold signed links or inputs, and never a job's text).
 */
const TRACER_NAME = "@tts/inference";

// Looked up per span, not kept: a tracer taken before tracing starts would stay a no-op.
const tracer = () => trace.getTracer(TRACER_NAME);

/**
 * Starts tracing as the OTEL_* variables say (off unless an OTLP endpoint or exporter is set), reporting the
 * SDK's troubles (a collector that refuses spans) in the node's log. A malformed variable stops the node with
 * exit code 2, as other configuration errors do. Its shutdown sends what is still batched and never throws.
 */
export async function startNodeTracing(logger: Logger): Promise<Tracing> {
  try {
    const tracing = await startTracing({
      serviceName: "tts-inference",
      report: (message) => logger.warn({ component: "tracing" }, message),
    });
    return {
      enabled: tracing.enabled,
      shutdown: () =>
        tracing
          .shutdown()
          .catch((error: unknown) => logger.warn({ err: error }, "tracing: spans were lost at shutdown")),
    };
  } catch (error) {
    if (error instanceof TracingEnvError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

/** Runs `handle` inside a SERVER span for this request, ended with the response's status when it closes. */
export function traceRequest(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
  if (!tracingActive()) return handle();
  const method = req.method ?? "GET";
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const requestId = requestContext.getStore()?.requestId;
  const span = tracer().startSpan(
    method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "http.request.method": method,
        "url.scheme": "http",
        "network.protocol.version": req.httpVersion,
        ...(requestId && { "tts.request_id": requestId }),
      },
    },
    parent,
  );
  res.once("close", () => {
    span.setAttribute("http.response.status_code", res.statusCode);
    if (!res.writableFinished) span.setAttribute("tts.response.cut_short", true);
    if (res.statusCode >= 500) {
      span.setAttribute("error.type", String(res.statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  });
  context.with(trace.setSpan(parent, span), handle);
}

/** Every procedure path of the router (`tts.synthesize`, ...): only these name spans, never arbitrary paths. */
const procedures = new Set(Object.keys(appRouter._def.procedures));

/**
 * Names the active request span by its route once the request is routed: the route template (`GET
 * /v1/audio/{id}`), or for tRPC the procedures called (`POST /trpc/tts.synthesize`, a batch as
 * `GET /trpc/health,voices.list`). `route` is the matched route's name, or for tRPC the path; undefined if none.
 */
export function routeRequestSpan(method: string | undefined, route: string | undefined, path: string): void {
  const span = tracingActive() ? trace.getActiveSpan() : undefined;
  if (!span) return;
  const attributes: Attributes = { "url.path": path };
  let name = route;
  if (route?.startsWith("/trpc/")) {
    const called = route.slice("/trpc/".length).split(",");
    const known = called.every((procedure) => procedures.has(procedure));
    name = known ? route : "/trpc";
    if (known) attributes["trpc.procedures"] = called;
  }
  if (name) {
    attributes["http.route"] = name;
    span.updateName(`${method ?? "GET"} ${name}`);
  }
  span.setAttributes(attributes);
}

/** Records an unexpected failure (a 500) on the active request span. */
export function recordRequestError(error: unknown): void {
  if (!tracingActive()) return;
  trace.getActiveSpan()?.recordException(error instanceof Error ? error : String(error));
}

interface JobTrace {
  /** The context active when the job was queued: the request (and procedure) that created it. */
  parent: Context;
  queuedAt: number;
  chunks: number;
  span?: Span;
}

const jobTraces = new WeakMap<Job, JobTrace>();

/**
 * Follows a job just queued in a `tts.job` span: the context active now (the request that asked for it) is kept
 * as its parent, the span starts when the job gets a worker (`jobRunning`) and ends with the job's final status
 * when `result` settles. Returns `result`, or an equivalent promise.
 */
export function traceJob<T>(job: Job, chunks: number, result: Promise<T>): Promise<T> {
  if (!tracingActive()) return result;
  const traced: JobTrace = { parent: context.active(), queuedAt: performance.now(), chunks };
  jobTraces.set(job, traced);
  return result.finally(() => endJobSpan(job, traced));
}

/** The job got a worker: its span starts now. */
export function jobRunning(job: Job): void {
  const traced = jobTraces.get(job);
  if (traced && !traced.span) traced.span = startJobSpan(job, traced);
}

function startJobSpan(job: Job, traced: JobTrace): Span {
  return tracer().startSpan(
    "tts.job",
    {
      kind: SpanKind.INTERNAL,
      attributes: {
        "tts.job.id": job.id,
        "tts.job.characters": job.text.length,
        "tts.job.chunks": traced.chunks,
        "tts.job.format": job.format,
        "tts.job.queue_wait_ms": Math.round(performance.now() - traced.queuedAt),
      },
    },
    traced.parent,
  );
}

function endJobSpan(job: Job, traced: JobTrace): void {
  // A job that ended before it ran (cancelled while queued) gets a span at its end, its wait included.
  const span = traced.span ?? startJobSpan(job, traced);
  span.setAttribute("tts.job.status", job.status);
  if (job.tokens !== null) span.setAttribute("tts.job.tokens", job.tokens);
  if (job.audio) span.setAttribute("tts.job.audio_seconds", job.audio.durationSeconds);
  if (job.error) span.setAttribute("tts.job.error_code", job.error.code);
  if (job.status === "done") span.setStatus({ code: SpanStatusCode.OK });
  if (job.status === "failed") {
    span.recordException({ name: job.error?.code ?? "FAILED", message: job.error?.message ?? "failed" });
    span.setStatus({ code: SpanStatusCode.ERROR, message: job.error?.message });
  }
  span.end();
  jobTraces.delete(job);
}
