import { context, propagation } from "@opentelemetry/api";

/**
 * Whether tracing is started in this process. startTracing registers the W3C propagator with its provider, so a
 * registered propagator is the signal; it is one global lookup, and false in browsers and with tracing off.
 */
export function tracingActive(): boolean {
  return propagation.fields().length > 0;
}

/**
 * The active trace context as W3C headers (`traceparent`, and `tracestate` when there is one), for a request
 * to another service. Empty without tracing (browsers, tracing off) or outside any span.
 */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  if (tracingActive()) propagation.inject(context.active(), carrier);
  return carrier;
}
