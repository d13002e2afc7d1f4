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
  /**
   * Per-request headers (e.g. `Authorization: Bearer <key>`, or a browser session's short-lived token). Their
   * `authorization` also reaches subscriptions, as tRPC connection params: EventSource cannot send headers.
   */
  headers?: () => HTTPHeaders | Promise<HTTPHeaders>;
  /** Node.js (24 included) has no global EventSource: pass a compatible one (e.g. the `eventsource` package). */
  EventSource?: Parameters<typeof httpSubscriptionLink>[0]["EventSource"];
}

/** The Authorization header's value, however the headers were given. */
function authorizationOf(headers: HTTPHeaders): string | undefined {
  const entries =
    Symbol.iterator in headers ? [...(headers as Iterable<[string, string]>)] : Object.entries(headers);
  const found = entries.find(([name]) => name.toLowerCase() === "authorization")?.[1];
  return Array.isArray(found) ? found[0] : found;
}

/**
 * The links every client of this API uses: subscriptions (job progress) over SSE, FormData uploads unbatched,
 * everything else batched. Browser-safe: it imports only `@trpc/client` and types.
 */
export function apiLinks({ url, headers, EventSource }: ApiLinkOptions): TRPCLink<AppRouter>[] {
  return [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({
        url,
        ...(EventSource ? { EventSource } : {}),
        connectionParams: async () => {
          const authorization = authorizationOf(headers ? await headers() : {});
          return authorization ? { authorization } : null;
        },
      }),
      false: splitLink({
        condition: (op) => isNonJsonSerializable(op.input),
        true: httpLink({ url, headers }),
        false: httpBatchLink({ url, headers }),
      }),
    }),
  ];
}
