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
import { traceHeaders } from "./tracing/propagation";

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

/** Headers as name -> value(s), however they were given (an object, or an iterable such as `Headers`). */
function headerRecord(headers: HTTPHeaders): Record<string, string | string[] | undefined> {
  return Symbol.iterator in headers ? Object.fromEntries(headers as Iterable<[string, string]>) : headers;
}

/** The Authorization header's value, however the headers were given. */
function authorizationOf(headers: HTTPHeaders): string | undefined {
  const found = Object.entries(headerRecord(headers)).find(
    ([name]) => name.toLowerCase() === "authorization",
  )?.[1];
  return Array.isArray(found) ? found[0] : found;
}

/**
 * The caller's headers plus the active trace context (W3C `traceparent`/`tracestate`), so the node's spans join
 * the caller's trace. Without tracing (browsers, tracing off) nothing is added; a caller's own `traceparent` wins.
 */
export function withTraceHeaders(
  headers?: () => HTTPHeaders | Promise<HTTPHeaders>,
): () => Promise<HTTPHeaders> {
  return async () => {
    // Read before awaiting the caller's headers: the context is the one the call was made in.
    const trace = traceHeaders();
    const given = headers ? headerRecord(await headers()) : {};
    return { ...trace, ...given };
  };
}

/**
 * The links every client of this API uses: subscriptions (job progress) over SSE, FormData uploads unbatched,
 * everything else batched. Queries and mutations carry the active trace context when tracing is on (a server
 * caller); subscriptions do not, since a browser's EventSource cannot send headers and the stream outlives the
 * call. Browser-safe: it imports only `@trpc/client`, `@opentelemetry/api` (no SDK) and types.
 */
export function apiLinks({ url, headers, EventSource }: ApiLinkOptions): TRPCLink<AppRouter>[] {
  const traced = withTraceHeaders(headers);
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
        true: httpLink({ url, headers: traced }),
        false: httpBatchLink({ url, headers: traced }),
      }),
    }),
  ];
}
