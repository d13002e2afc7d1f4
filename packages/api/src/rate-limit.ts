/**
 * Token buckets per caller (principal, or client IP without keys): `perMinute` requests on average, up to
 * `burst` at once. Per process: behind a load balancer each node (or web server) counts only what it serves.
 * Server-only; both apps use it (`@tts/api/rate-limit`).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    private readonly options: {
      /** 0 turns limiting off. */
      perMinute: number;
      burst: number;
      /** Buckets kept; past it, full (idle) ones are dropped first. */
      maxKeys?: number;
      now?: () => number;
    },
  ) {
    this.perMs = options.perMinute / 60_000;
  }

  /** Takes one token for `key`: 0 when allowed, else the whole seconds until one is available (at least 1). */
  take(key: string): number {
    const { perMinute, burst, now = performance.now.bind(performance) } = this.options;
    if (perMinute <= 0) return 0;
    const at = now();
    const bucket = this.buckets.get(key) ?? { tokens: burst, at };
    bucket.tokens = Math.min(burst, bucket.tokens + (at - bucket.at) * this.perMs);
    bucket.at = at;
    // Re-inserted so the map stays in least-recently-used order for pruning.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    this.prune(at);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000));
  }

  private prune(at: number): void {
    const maxKeys = this.options.maxKeys ?? 100_000;
    if (this.buckets.size <= maxKeys) return;
    // Idle callers first: a refilled bucket loses nothing by being forgotten.
    for (const [key, bucket] of this.buckets)
      if (bucket.tokens + (at - bucket.at) * this.perMs >= this.options.burst) this.buckets.delete(key);
    // Memory is bounded whatever the traffic: then the least recently seen go, down to half.
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= maxKeys / 2) break;
      this.buckets.delete(key);
    }
  }
}
