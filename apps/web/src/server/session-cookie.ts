import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A browser session: a random id, and whether it has given the site password. It lives in a signed, HTTP-only
 * cookie, `v1.<id>.<unlocked 0|1>.<mac>`; the MAC (HMAC-SHA256 with the session secret, labelled so it can
 * never pass for a node token) stops a browser from choosing another session's id or unlocking itself.
 */
export interface BrowserSession {
  id: string;
  unlocked: boolean;
}

export const SESSION_COOKIE = "tts_session";
/** A session outlives a browser restart: its voices and history are the user's. */
export const SESSION_COOKIE_MAX_AGE_SECONDS = 180 * 24 * 3600;

const mac = (secret: string, body: string) =>
  createHmac("sha256", secret).update(`cookie\n${body}`).digest("base64url");

export function newSession(): BrowserSession {
  return { id: randomBytes(18).toString("base64url"), unlocked: false };
}

export function sealSession(secret: string, session: BrowserSession): string {
  const body = `v1.${session.id}.${session.unlocked ? 1 : 0}`;
  return `${body}.${mac(secret, body)}`;
}

/** The session a cookie holds, or null when it is missing, malformed or not signed with `secret`. */
export function openSession(secret: string, cookie: string | undefined): BrowserSession | null {
  const match = /^(v1\.([A-Za-z0-9_-]{16,64})\.([01]))\.([A-Za-z0-9_-]+)$/.exec(cookie ?? "");
  if (!match) return null;
  const [, body = "", id = "", unlocked, signature = ""] = match;
  const expected = Buffer.from(mac(secret, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  return { id, unlocked: unlocked === "1" };
}

/** Compares a password in constant time (over its digest, so length does not leak either). */
export function passwordMatches(expected: string, given: string): boolean {
  const digest = (value: string) => createHmac("sha256", "site-password").update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}
