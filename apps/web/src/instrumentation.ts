/**
 * Next.js calls `register()` once when a server starts. Tracing runs in the Node.js runtime only, and only when
 * the OTEL_* variables ask for it (docs/tracing.md): Next.js's own spans (the request, the render, fetches) are
 * then exported, and the server-side tRPC calls to the inference node carry their context, so the node's spans
 * join the same trace. The SDK is imported here alone, on the server: no client bundle references it.
 */
export async function register(): Promise<void> {
  // eslint-disable-next-line no-restricted-properties -- Next.js sets NEXT_RUNTIME per runtime and drops the other branch at build time; the env module cannot stand in for it.
  if (process.env.NEXT_RUNTIME === "nodejs") {
    const { startTracing } = await import("@tts/api/tracing");
    await startTracing({ serviceName: "tts-web" });
  }
}
