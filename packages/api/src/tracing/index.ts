import type { SpanExporter } from "@opentelemetry/sdk-trace";

import { tracingSettings, type TracingSettings } from "./env";

export { TracingEnvError, tracingSettings, type TracingSettings } from "./env";
export { procedureSpan, TRACER_NAME } from "./procedure-span";
export { traceHeaders, tracingActive } from "./propagation";

/**
 * Server-only (`@tts/api/tracing`): OpenTelemetry tracing for a Node.js process, configured by the standard
 * OTEL_* variables (see docs/tracing.md). Browsers never load it.
 */

export interface TracingOptions {
  /** The service's name unless OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise. */
  serviceName: string;
  /** Spans go here as each ends, and tracing is on whatever the environment says (tests, local debugging). */
  exporter?: SpanExporter;
  /** The environment to read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where the SDK's own problems are told (an export that failed); default console.warn. */
  report?: (message: string) => void;
}

export interface Tracing {
  /** False when the environment leaves tracing off: nothing was registered and nothing was loaded. */
  readonly enabled: boolean;
  /** Sends the spans still batched, then unregisters everything (idempotent). */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: () => Promise.resolve() };

/**
 * Starts tracing when the environment asks for it (an OTLP endpoint, or OTEL_TRACES_EXPORTER), or when given an
 * exporter: a tracer provider, an AsyncLocalStorage context manager and the W3C trace-context propagator become
 * the process's globals, so spans made through `@opentelemetry/api` anywhere in it (Next.js's own included) are
 * exported, and `traceHeaders()` carries them to the inference node. Off, it loads nothing and registers nothing.
 * Throws TracingEnvError on a malformed variable, and when tracing is already started.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const settings: TracingSettings = options.exporter
    ? {
        enabled: true,
        exporters: [],
        tracesUrl: undefined,
        sampler: { name: "parentbased_always_on", ratio: 1 },
        exportDelayMs: 0,
      }
    : tracingSettings(options.env);
  if (!settings.enabled) return OFF;
  const { registerSdk } = await import("./sdk");
  const stop = registerSdk(settings, {
    serviceName: options.serviceName,
    exporter: options.exporter,
    report: options.report ?? ((message) => console.warn(`tracing: ${message}`)),
  });
  let stopped: Promise<void> | undefined;
  return { enabled: true, shutdown: () => (stopped ??= stop()) };
}
