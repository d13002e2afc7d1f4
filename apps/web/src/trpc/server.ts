import "server-only";

import { createTRPCClient, httpBatchLink } from "@trpc/client";
import { createServerSideHelpers } from "@trpc/react-query/server";

import type { AppRouter } from "@tts/api";
import { withTraceHeaders } from "@tts/api/client";

import { getWebEnv } from "../env";
import { makeQueryClient } from "./query-client";

/** Server-side prefetch must not hold a page hostage to a slow or unreachable inference node. */
const PREFETCH_TIMEOUT_MS = 2_000;

/**
 * Per-request helpers for prefetching with the same typed client the browser uses. With tracing on, each call
 * carries the render's trace context, so the node's spans join the page's trace.
 */
export function createPrefetchHelpers() {
  const url = `${getWebEnv().internalApiBase}/trpc`;
  const client = createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url,
        headers: withTraceHeaders(),
        fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(PREFETCH_TIMEOUT_MS) }),
      }),
    ],
  });
  return createServerSideHelpers<AppRouter>({ client, queryClient: makeQueryClient() });
}
