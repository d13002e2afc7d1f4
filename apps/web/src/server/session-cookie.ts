import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A browser session: a random id, and whether it has given the site password. It lives in a signed, HTTP-only
 * cookie, `v1.<id>.<unlock>.<mac>`; the MAC (HMAC-SHA256 with the session secret, labelled so it can never pass
 * for a node token) stops a browser from choosing another session's id or unlocking itself. `<unlock>` is `0`,
 * or a tag derived from the session and the site password it gave: when the password changes, every session is
 * locked again but keeps its id (and so its voices and history).
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

const unlockTag = (secret: string, id: string, password: string) =>
  createHmac("sha256", secret).update(`unlock\n${id}\n${password}`).digest("base64url").slice(0, 22);

/** `sitePassword`: the password an unlocked session gave (required to seal one). */
export function sealSession(secret: string, session: BrowserSession, sitePassword?: string): string {
  if (session.unlocked && !sitePassword) throw new Error("an unlocked session needs the site password");
  const unlock = session.unlocked ? unlockTag(secret, session.id, sitePassword!) : "0";
  const body = `v1.${session.id}.${unlock}`;
  return `${body}.${mac(secret, body)}`;
}

/**
 * The session a cookie holds, or null when it is missing, malformed or not signed with `secret`. It counts as
 * unlocked only for the current `sitePassword`.
 */
export function openSession(
  secret: string,
  cookie: string | undefined,
  sitePassword?: string,
): BrowserSession | null {
  const match = /^(v1\.([A-Za-z0-9_-]{16,64})\.(0|[A-Za-z0-9_-]{22}))\.([A-Za-z0-9_-]+)$/.exec(cookie ?? "");
  if (!match) return null;
  const [, body = "", id = "", unlock = "0", signature = ""] = match;
  const expected = Buffer.from(mac(secret, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  const unlocked =
    unlock !== "0" &&
    sitePassword !== undefined &&
    timingSafeEqual(Buffer.from(unlock), Buffer.from(unlockTag(secret, id, sitePassword)));
  return { id, unlocked };
}

/** Compares a password in constant time (over its digest, so length does not leak either). */
export function passwordMatches(expected: string, given: string): boolean {
  const digest = (value: string) => createHmac("sha256", "site-password").update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}
