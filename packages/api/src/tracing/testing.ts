/** For tests and local debugging (`@tts/api/tracing/testing`): spans kept in memory, to pass to startTracing. */
export { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
