import type { IncomingMessage, ServerResponse } from "node:http";

import { sendJson } from "./respond";

/**
 * CORS allowlist: browsers call this node directly in production (streams cannot pass through Amplify), so only
 * configured origins may read responses. Returns true when the request was a preflight and is fully answered.
 */
export function applyCors(
  req: IncomingMessage,
  res: ServerResponse,
  allowedOrigins: readonly string[],
): boolean {
  const origin = req.headers.origin;
  const anyOrigin = allowedOrigins.includes("*");
  const allowed = origin !== undefined && (anyOrigin || allowedOrigins.includes(origin));
  // Always: a cache must not serve one origin's answer to another.
  res.setHeader("Vary", "Origin");
  if (allowed) {
    // A literal `*` when any origin may read: no credentials ride on it, and caches can share it.
    res.setHeader("Access-Control-Allow-Origin", anyOrigin ? "*" : origin);
    res.setHeader(
      "Access-Control-Expose-Headers",
      "Content-Length, Content-Range, Retry-After, X-Request-Id, X-Audio-Id, X-Instructions-Applied",
    );
  }
  if (req.method !== "OPTIONS" || req.headers["access-control-request-method"] === undefined) return false;
  if (!allowed) {
    sendJson(res, 403, {
      error: {
        code: "CORS_ORIGIN_NOT_ALLOWED",
        message: `Origin ${origin ?? "(none)"} is not allowed`,
        type: "cors_origin_not_allowed",
      },
    });
    return true;
  }
  res.writeHead(204, {
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers":
      req.headers["access-control-request-headers"] ?? "Content-Type, Authorization",
    "Access-Control-Max-Age": "600",
  });
  res.end();
  return true;
}
