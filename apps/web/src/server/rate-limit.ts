/**
 * A token bucket per client address, in memory: enough to stop one client minting tokens or guessing the site
 * password in a loop. Buckets idle for a minute are dropped, so memory stays bounded by the last minute's clients.
 */
export class MintLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** 0 when `client` may go on (and a token is taken), else seconds to wait. */
  take(client: string): number {
    const now = this.now();
    this.prune(now);
    const refill = this.perMinute / 60_000;
    const bucket = this.buckets.get(client) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * refill);
    bucket.at = now;
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / refill / 1000);
  }

  private lastPrune = 0;

  /** At most once a minute: a full bucket refills within a minute, so older ones hold nothing worth keeping. */
  private prune(now: number): void {
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const [client, bucket] of this.buckets) if (now - bucket.at > 60_000) this.buckets.delete(client);
  }
}

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
