import {
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  isNonJsonSerializable,
  splitLink,
  type HTTPHeaders,
  type TRPCLink,
} from "@trpc/client";

import type { AppRouter } from "./root";

export interface ApiLinkOptions {
  /** The inference node's tRPC endpoint, e.g. `https://api.example.com/trpc`. */
  url: string;
  /** Per-request headers (e.g. `Authorization: Bearer <key>` for programmatic clients). */
  headers?: () => HTTPHeaders;
  /** Node.js (24 included) has no global EventSource: pass a compatible one (e.g. the `eventsource` package). */
  EventSource?: Parameters<typeof httpSubscriptionLink>[0]["EventSource"];
}

/**
 * The links every client of this API uses: subscriptions (job progress) over SSE, FormData uploads unbatched,
 * everything else batched. Browser-safe: it imports only `@trpc/client` and types.
 */
export function apiLinks({ url, headers, EventSource }: ApiLinkOptions): TRPCLink<AppRouter>[] {
  return [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({ url, ...(EventSource ? { EventSource } : {}) }),
      false: splitLink({
        condition: (op) => isNonJsonSerializable(op.input),
        true: httpLink({ url, headers }),
        false: httpBatchLink({ url, headers }),
      }),
    }),
  ];
}
