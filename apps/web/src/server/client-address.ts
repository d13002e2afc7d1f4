/** The bucket of requests whose address cannot be known: all of them share it. */
export const SHARED_BUCKET = "all-clients";

/**
 * The client's address, as the `hops` proxies in front of this server report it. Each proxy (Amplify's CDN, a
 * load balancer, nginx with `$proxy_add_x_forwarded_for`) appends the address it saw to `X-Forwarded-For`, so the
 * entry `hops` from the right is the one the outermost trusted proxy wrote; anything left of it is the client's
 * own claim. With no proxy (`hops` 0) the header is whatever the client sent (Next.js adds the socket address only
 * when it is absent) and route handlers cannot see the socket: every client then shares one bucket.
 */
export function clientAddress(headers: Headers, hops: number): string {
  if (hops === 0) return SHARED_BUCKET;
  const entries = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  return entries.length >= hops ? entries[entries.length - hops]! : SHARED_BUCKET;
}
