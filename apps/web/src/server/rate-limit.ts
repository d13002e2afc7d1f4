/**
 * A token bucket per client address, in memory: enough to stop one client minting tokens or guessing the site
 * password in a loop. Buckets idle for a minute are dropped, so memory stays bounded by recent clients.
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

  private prune(now: number): void {
    if (this.buckets.size < 10_000) return;
    for (const [client, bucket] of this.buckets) if (now - bucket.at > 60_000) this.buckets.delete(client);
  }
}

/**
 * The client's address as the closest proxy saw it: the last `X-Forwarded-For` entry (Next.js, Amplify's CDN and
 * load balancers append to it; entries before the last are the client's own claims).
 */
export function clientAddress(headers: Headers): string {
  const forwarded = headers
    .get("x-forwarded-for")
    ?.split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  return forwarded?.at(-1) ?? headers.get("x-real-ip") ?? "unknown";
}
