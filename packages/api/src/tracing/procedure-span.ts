import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";

import { tracingActive } from "./propagation";

/** The instrumentation scope of the spans this package makes. */
export const TRACER_NAME = "@tts/api";

/**
 * Runs one procedure call inside its own span (named by its path, e.g. `tts.synthesize`), a child of whatever is
 * active (the node's request span), so work the procedure starts (jobs) hangs below it. Failures the server is to
 * blame for (5xx) mark the span as an error; a caller's mistakes (4xx) only name their code. A subscription's
 * span covers setting it up, not the stream. Without tracing it only calls `next`.
 */
export async function procedureSpan<R extends { ok: true } | { ok: false; error: TRPCError }>(
  path: string,
  type: string,
  next: () => Promise<R>,
): Promise<R> {
  if (!tracingActive()) return next();
  const attributes = { "rpc.system": "trpc", "rpc.method": path, "trpc.type": type };
  return trace
    .getTracer(TRACER_NAME)
    .startActiveSpan(path, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        const result = await next();
        if (!result.ok) {
          span.setAttribute("trpc.error_code", result.error.code);
          if (getHTTPStatusCodeFromError(result.error) >= 500) {
            span.recordException(result.error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.message });
          }
        }
        return result;
      } finally {
        span.end();
      }
    });
}
