import { context, diag, DiagLogLevel, propagation, trace, type DiagLogFunction } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

import type { TracingSettings } from "./env";

/** Loaded only when tracing is on, so a node without it never loads the SDK. */

type On = Extract<TracingSettings, { enabled: true }>;

function sampler({ name, ratio }: On["sampler"]): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

function processors(settings: On, exporter: SpanExporter | undefined): SpanProcessor[] {
  // A given exporter (tests) sees each span as it ends; the network exporter gets batches.
  if (exporter) return [new SimpleSpanProcessor({ exporter })];
  return settings.exporters.map((name) =>
    name === "console"
      ? new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
      : new BatchSpanProcessor({
          exporter: new OTLPTraceExporter(settings.tracesUrl ? { url: settings.tracesUrl } : {}),
          scheduledDelayMillis: settings.exportDelayMs,
        }),
  );
}

export interface SdkOptions {
  serviceName: string;
  exporter?: SpanExporter;
  report: (message: string) => void;
}

/**
 * Registers a tracer provider, the AsyncLocalStorage context manager and the W3C propagator as the process's
 * globals; the returned function flushes what is still batched and unregisters them.
 */
export function registerSdk(
  settings: On,
  { serviceName, exporter, report }: SdkOptions,
): () => Promise<void> {
  const provider = new TracerProvider({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the env detector) win over the app's default name.
    resource: defaultResource()
      .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }))
      .merge(detectResources({ detectors: [envDetector] })),
    sampler: sampler(settings.sampler),
    // Error messages and paths are short; nothing unbounded rides on a span.
    spanLimits: { attributeValueLengthLimit: 2048 },
    spanProcessors: processors(settings, exporter),
  });
  if (!trace.setGlobalTracerProvider(provider)) {
    throw new Error(
      "Tracing is already started in this process; shut the first one down before starting again.",
    );
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // The SDK's own troubles (a collector that is down, a refused export) are otherwise silent.
  const toReport: DiagLogFunction = (message, ...args) =>
    report([message, ...args.map((arg) => (arg instanceof Error ? arg.message : String(arg)))].join(" "));
  const ignore: DiagLogFunction = () => undefined;
  diag.setLogger(
    { error: toReport, warn: toReport, info: ignore, debug: ignore, verbose: ignore },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  return async () => {
    try {
      await provider.shutdown();
    } finally {
      trace.disable();
      propagation.disable();
      context.disable();
      diag.disable();
    }
  };
}
