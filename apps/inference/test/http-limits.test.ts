import type { IncomingMessage } from "node:http";

import { describe, expect, it } from "vitest";

import { RateLimiter } from "@tts/api/rate-limit";
import { mintSessionToken } from "@tts/api/session-token";

import { createAuthenticator, parseApiKey } from "../src/http/auth";
import { createClientIp, trustedProxyList } from "../src/http/client-ip";
import { Slots } from "../src/http/slots";

const request = (remoteAddress: string, headers: Record<string, string> = {}) =>
  ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;

describe("rate limiter", () => {
  it("allows a burst, then one request per refill interval, and says how long to wait", () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 60, burst: 3, now: () => now });
    expect([1, 2, 3].map(() => limiter.take("a"))).toEqual([0, 0, 0]);
    expect(limiter.take("a")).toBe(1); // one token a second
    expect(limiter.take("b")).toBe(0); // callers do not share buckets
    now += 1000;
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(1);
  });

  it("rounds the wait up to whole seconds, never 0 while refusing", () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 2, burst: 1, now: () => now });
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(30);
    now += 29_500;
    expect(limiter.take("a")).toBe(1);
  });

  it("is off at 0 per minute", () => {
    const limiter = new RateLimiter({ perMinute: 0, burst: 1 });
    expect(Array.from({ length: 100 }, () => limiter.take("a")).every((wait) => wait === 0)).toBe(true);
  });

  it("forgets idle callers past its size, not the ones it is limiting", () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 60, burst: 2, maxKeys: 1000, now: () => now });
    for (let i = 0; i < 999; i++) limiter.take(`idle-${i}`);
    limiter.take("busy");
    limiter.take("busy");
    now += 1000; // the idle buckets are full again; "busy" has one token back
    limiter.take("newcomer"); // past maxKeys: prunes
    expect(limiter.take("busy")).toBe(0);
    expect(limiter.take("busy")).toBe(1); // a forgotten bucket would have started full
  });
});

describe("client address", () => {
  it("ignores X-Forwarded-For from untrusted peers", () => {
    const ip = createClientIp(trustedProxyList([]));
    expect(ip(request("203.0.113.9", { "x-forwarded-for": "1.2.3.4" }))).toBe("203.0.113.9");
  });

  it("reads X-Forwarded-For from the right behind trusted proxies, skipping trusted hops", () => {
    const ip = createClientIp(trustedProxyList(["10.0.0.0/8", "::1"]));
    const forwarded = { "x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.1.2.3" };
    // 6.6.6.6 is what the client claimed; 198.51.100.7 is what our proxy saw.
    expect(ip(request("::ffff:10.0.0.5", forwarded))).toBe("198.51.100.7");
    expect(ip(request("::1", { "x-forwarded-for": "2001:db8::1" }))).toBe("2001:db8::1");
    expect(ip(request("10.0.0.5", { "x-forwarded-for": "not-an-ip" }))).toBe("10.0.0.5");
    expect(ip(request("10.0.0.5"))).toBe("10.0.0.5");
  });

  it("refuses entries that are not addresses or ranges", () => {
    expect(() => trustedProxyList(["10.0.0.0/33"])).toThrow(/invalid prefix/);
    expect(() => trustedProxyList(["proxy.internal"])).toThrow(/not an IP address/);
  });
});

describe("slots", () => {
  it("hands out at most `size` slots and takes each back once", () => {
    const slots = new Slots(2);
    const first = slots.tryTake()!;
    const second = slots.tryTake()!;
    expect(slots.tryTake()).toBeUndefined();
    first();
    first();
    expect(slots.inUse).toBe(1);
    expect(slots.tryTake()).toBeDefined();
    second();
  });
});

describe("API keys", () => {
  it("names principals: `name:key` by its name, a bare key by a hash that does not reveal it", () => {
    expect(parseApiKey("alice:0123456789abcdef")).toEqual({ principal: "alice", key: "0123456789abcdef" });
    const bare = parseApiKey("0123456789abcdef-secret");
    expect(bare.principal).toMatch(/^key-[0-9a-f]{12}$/);
    expect(bare.principal).not.toContain("secret");
  });

  it("maps each key to its principal; several keys may share one; no key means no principal", () => {
    const authenticate = createAuthenticator([
      "ops:old-key-0123456789",
      "ops:new-key-0123456789",
      "bare-key-0123456789",
    ]);
    const as = (key?: string) => authenticate(key === undefined ? undefined : `Bearer ${key}`)?.id ?? null;
    expect(as("old-key-0123456789")).toBe("ops");
    expect(as("new-key-0123456789")).toBe("ops");
    expect(as("bare-key-0123456789")).toMatch(/^key-/);
    expect(as("ops:old-key-0123456789")).toBeNull(); // the name is configuration, not part of the key
    expect(as("wrong-key-0123456789")).toBeNull();
    expect(as()).toBeNull();
  });

  it("treats every request as the single local user when no keys are set", () => {
    expect(createAuthenticator([])(undefined)).toEqual({ id: "local" });
  });

  it("accepts a browser session's signed token as that session's own principal, next to keys", () => {
    const secret = "a-session-secret-of-32-characters!";
    const authenticate = createAuthenticator(["ops:key-0123456789abcdef"], secret);
    const { token } = mintSessionToken(secret, { session: "browser-session-0001" });
    expect(authenticate(`Bearer ${token}`)).toEqual({ id: "session-browser-session-0001" });
    expect(authenticate("Bearer key-0123456789abcdef")).toEqual({ id: "ops" });
    const forged = mintSessionToken("another-secret-of-32-characters!!", { session: "browser-session-0001" });
    expect(authenticate(`Bearer ${forged.token}`)).toBeNull();
    const expired = mintSessionToken(secret, { session: "browser-session-0001", now: 1_000 });
    expect(authenticate(`Bearer ${expired.token}`)).toBeNull();
    // A session secret alone closes the node to anonymous callers, as keys do.
    expect(createAuthenticator([], secret)(undefined)).toBeNull();
    expect(createAuthenticator([], secret)(`Bearer ${token}`)).toEqual({
      id: "session-browser-session-0001",
    });
  });
});
