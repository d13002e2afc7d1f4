import { describe, expect, it } from "vitest";

import { verifySessionToken } from "@tts/api/session-token";

import { createSessionRoutes } from "./session-routes";

const secret = "a-secret-shared-with-the-node-0123456789";
/** Behind one proxy that appends the address it saw to X-Forwarded-For. */
const env = { sessionSecret: secret, tokenMintsPerMinute: 3, trustedProxyHops: 1 };
const post = (path: string, init: { cookie?: string; ip?: string; body?: string } = {}) =>
  new Request(`http://app.test${path}`, {
    method: "POST",
    headers: {
      ...(init.cookie && { cookie: init.cookie }),
      "x-forwarded-for": `203.0.113.9, ${init.ip ?? "198.51.100.1"}`,
      "content-type": "application/json",
    },
    body: init.body ?? null,
  });
const cookieFrom = (response: Response) => response.headers.get("set-cookie")?.split(";")[0];

describe("POST /api/session/token", () => {
  it("starts a session in an HTTP-only cookie and mints a 15-minute token for it; the cookie keeps it", async () => {
    let now = 1_700_000_000_000;
    const routes = createSessionRoutes(() => now);
    const first = routes.token(env, post("/api/session/token"));
    expect(first.status).toBe(200);
    const setCookie = first.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(
      /^tts_session=v1\.[\w-]+\.0\.[\w-]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/,
    );
    const reply = (await first.json()) as { token: string; expiresAt: number };
    expect(reply.expiresAt).toBe(now + 15 * 60_000);
    const session = verifySessionToken(secret, reply.token, now / 1000);
    expect(session).toBeTruthy();
    now += 1000;
    const again = routes.token(env, post("/api/session/token", { cookie: cookieFrom(first) }));
    expect(again.headers.get("set-cookie")).toBeNull();
    const second = (await again.json()) as { token: string };
    expect(verifySessionToken(secret, second.token, now / 1000)).toBe(session);
  });

  it("starts a new session for a forged cookie instead of trusting its id", async () => {
    const routes = createSessionRoutes();
    const forged = "tts_session=v1.someone-elses-session-id.1.AAAA";
    const response = routes.token(env, post("/api/session/token", { cookie: forged }));
    const { token } = (await response.json()) as { token: string };
    expect(verifySessionToken(secret, token)).not.toBe("someone-elses-session-id");
    expect(response.headers.get("set-cookie")).toMatch(/^tts_session=/);
  });

  it("limits mints per client address (the proxy's last X-Forwarded-For entry), with Retry-After", () => {
    const routes = createSessionRoutes(() => 0);
    for (let i = 0; i < 3; i++) expect(routes.token(env, post("/api/session/token")).status).toBe(200);
    const refused = routes.token(env, post("/api/session/token"));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(routes.token(env, post("/api/session/token", { ip: "198.51.100.2" })).status).toBe(200);
  });

  it("cannot be dodged by writing X-Forwarded-For: only the trusted proxy's entry counts", () => {
    const routes = createSessionRoutes(() => 0);
    const spoofed = (claim: string) =>
      new Request("http://app.test/api/session/token", {
        method: "POST",
        headers: { "x-forwarded-for": `${claim}, 198.51.100.7` },
      });
    for (let i = 0; i < 3; i++) expect(routes.token(env, spoofed(`10.0.0.${i}`)).status).toBe(200);
    expect(routes.token(env, spoofed("10.0.0.99")).status).toBe(429);
    // Without a proxy (hops 0) the header is the client's own: everyone shares one bucket.
    const direct = createSessionRoutes(() => 0);
    const open = { ...env, trustedProxyHops: 0 };
    for (let i = 0; i < 3; i++) expect(direct.token(open, spoofed(`10.0.1.${i}`)).status).toBe(200);
    expect(direct.token(open, spoofed("10.0.1.99")).status).toBe(429);
  });

  it("answers no token when no secret is set: the node runs without credentials", async () => {
    const response = createSessionRoutes().token(
      { tokenMintsPerMinute: 3, trustedProxyHops: 1 },
      post("/api/session/token"),
    );
    expect(await response.json()).toEqual({ token: null, expiresAt: null });
  });
});

describe("site password", () => {
  it("withholds tokens until the session has given the password, then unlocks that session", async () => {
    const routes = createSessionRoutes();
    const locked = { ...env, sitePassword: "correct horse", tokenMintsPerMinute: 100 };
    expect(routes.token(locked, post("/api/session/token")).status).toBe(401);
    const wrong = await routes.unlock(locked, post("/api/session/unlock", { body: '{"password":"guess"}' }));
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "Wrong password." });
    const bad = await routes.unlock(locked, post("/api/session/unlock", { body: "not json" }));
    expect(bad.status).toBe(400);
    const right = await routes.unlock(
      locked,
      post("/api/session/unlock", { body: '{"password":"correct horse"}' }),
    );
    expect(right.status).toBe(204);
    const cookie = cookieFrom(right);
    const minted = routes.token(locked, post("/api/session/token", { cookie }));
    expect(minted.status).toBe(200);
    // A new password locks every session again, and the session keeps its id when it unlocks anew.
    const { token } = (await minted.json()) as { token: string };
    const changed = { ...locked, sitePassword: "a new password" };
    expect(routes.token(changed, post("/api/session/token", { cookie })).status).toBe(401);
    const again = await routes.unlock(
      changed,
      post("/api/session/unlock", { cookie, body: '{"password":"a new password"}' }),
    );
    expect(again.status).toBe(204);
    const renewed = routes.token(changed, post("/api/session/token", { cookie: cookieFrom(again) }));
    const { token: next } = (await renewed.json()) as { token: string };
    expect(verifySessionToken(secret, next)).toBe(verifySessionToken(secret, token));
    // Password bodies are small: a large one is refused without being read whole.
    const huge = await routes.unlock(
      locked,
      post("/api/session/unlock", { body: JSON.stringify({ password: "x".repeat(10_000) }) }),
    );
    expect(huge.status).toBe(413);
  });
});
