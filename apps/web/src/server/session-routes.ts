import { RateLimiter } from "@tts/api/rate-limit";
import { mintSessionToken } from "@tts/api/session-token";

import type { WebEnv } from "../env";
import { clientAddress } from "./client-address";
import {
  newSession,
  openSession,
  passwordMatches,
  sealSession,
  SESSION_COOKIE,
  SESSION_COOKIE_MAX_AGE_SECONDS,
  type BrowserSession,
} from "./session-cookie";

/** What the browser gets from POST /api/session/token: a bearer token for the node, or null for an open node. */
export interface SessionTokenReply {
  token: string | null;
  /** Epoch ms; the client renews a minute before. */
  expiresAt: number | null;
}

/** The unlock route's body: `{"password": "..."}`. */
const MAX_UNLOCK_BODY_BYTES = 4096;

type Env = Pick<WebEnv, "sessionSecret" | "sitePassword" | "tokenMintsPerMinute" | "trustedProxyHops">;

function cookieOf(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

function setCookie(request: Request, env: Env & { sessionSecret: string }, session: BrowserSession): string {
  const https =
    new URL(request.url).protocol === "https:" || request.headers.get("x-forwarded-proto") === "https";
  return [
    `${SESSION_COOKIE}=${sealSession(env.sessionSecret, session, env.sitePassword)}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Lax",
    `Max-Age=${SESSION_COOKIE_MAX_AGE_SECONDS}`,
    ...(https ? ["Secure"] : []),
  ].join("; ");
}

/** The body as text, or null once it passes `max` bytes (reading stops there: a password is short). */
async function readAtMost(request: Request, max: number): Promise<string | null> {
  const reader = request.body?.getReader();
  if (!reader) return "";
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(parts));
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { "Cache-Control": "no-store", ...headers } });

const tooMany = (seconds: number) =>
  json(
    429,
    { error: `Too many requests from this address; retry in ${seconds} s.` },
    { "Retry-After": `${seconds}` },
  );

/** The session of a request (from its cookie) when the site is open to it; `locked` when a password is due. */
export function sessionOf(env: Env, cookie: string | undefined): BrowserSession | "locked" | null {
  if (!env.sessionSecret) return null;
  const session = openSession(env.sessionSecret, cookie, env.sitePassword);
  if (env.sitePassword && !session?.unlocked) return "locked";
  return session;
}

/**
 * The session routes, per process: the limiter's memory lives as long as the server. Route handlers call these
 * with the environment read at request time.
 */
export function createSessionRoutes(now: () => number = Date.now) {
  let limiter: { perMinute: number; limiter: RateLimiter } | undefined;
  const limit = (env: Env, request: Request) => {
    const perMinute = env.tokenMintsPerMinute;
    if (limiter?.perMinute !== perMinute)
      limiter = {
        perMinute,
        limiter: new RateLimiter({ perMinute, burst: perMinute, maxKeys: 10_000, now }),
      };
    return limiter.limiter.take(clientAddress(request.headers, env.trustedProxyHops));
  };

  return {
    /** POST /api/session/token: a short-lived token for this browser's session, starting one if needed. */
    token(env: Env, request: Request): Response {
      const secret = env.sessionSecret;
      if (!secret) return json(200, { token: null, expiresAt: null } satisfies SessionTokenReply);
      const wait = limit(env, request);
      if (wait > 0) return tooMany(wait);
      const found = sessionOf(env, cookieOf(request, SESSION_COOKIE));
      if (found === "locked") return json(401, { error: "This site needs its password." });
      const session = found ?? newSession();
      const { token, expiresAt } = mintSessionToken(secret, {
        session: session.id,
        now: Math.floor(now() / 1000),
      });
      const headers: Record<string, string> = found
        ? {}
        : { "Set-Cookie": setCookie(request, { ...env, sessionSecret: secret }, session) };
      return json(200, { token, expiresAt: expiresAt * 1000 } satisfies SessionTokenReply, headers);
    },

    /** POST /api/session/unlock `{ password }`: marks this browser's session as having given the site password. */
    async unlock(env: Env, request: Request): Promise<Response> {
      const { sessionSecret: secret, sitePassword } = env;
      if (!secret || !sitePassword) return json(404, { error: "This site has no password." });
      const wait = limit(env, request);
      if (wait > 0) return tooMany(wait);
      const text = await readAtMost(request, MAX_UNLOCK_BODY_BYTES);
      if (text === null) return json(413, { error: `Send at most ${MAX_UNLOCK_BODY_BYTES} bytes.` });
      const body: unknown = (() => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return null;
        }
      })();
      const password = (body as { password?: unknown } | null)?.password;
      if (typeof password !== "string") return json(400, { error: 'Send JSON like {"password": "..."}.' });
      if (!passwordMatches(sitePassword, password)) return json(401, { error: "Wrong password." });
      // The session keeps its id (and so its voices and history) when it unlocks.
      const session = openSession(secret, cookieOf(request, SESSION_COOKIE)) ?? newSession();
      return new Response(null, {
        status: 204,
        headers: {
          "Set-Cookie": setCookie(request, { ...env, sessionSecret: secret }, { ...session, unlocked: true }),
          "Cache-Control": "no-store",
        },
      });
    },
  };
}
