import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Credentials a browser may hold, signed with a secret that the web server and the inference node share
 * (`TTS_SESSION_SECRET`). Server-only (node:crypto): import it as `@tts/api/session-token`, never from a page.
 *
 * - A session token stands for one browser session for a few minutes: `tts-session.v1.<session>.<exp>.<mac>`.
 *   The node accepts it as the principal `session-<session>`, so each session sees only its own voices and jobs.
 * - An audio signature lets a media element (which cannot send `Authorization`) fetch one result of one
 *   principal until it expires: `?p=<principal>&exp=<exp>&sig=<mac>` on `/v1/audio/{id}`.
 */

export const SESSION_TOKEN_PREFIX = "tts-session.v1.";
/** Principal ids of browser sessions; API key names cannot clash with it (see the node's key parsing). */
export const SESSION_PRINCIPAL_PREFIX = "session-";
/** Shortest secret accepted: HMAC keys shorter than this are guessable offline from one token. */
export const MIN_SESSION_SECRET_LENGTH = 32;
/** How long a minted token lasts; clients renew it a minute before. */
export const SESSION_TOKEN_TTL_SECONDS = 15 * 60;
/** How long a signed audio URL lasts: long enough to listen, seek and download, short enough not to leak. */
export const AUDIO_URL_TTL_SECONDS = 60 * 60;

const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** HMAC-SHA256 over a purpose label and the fields, so a MAC made for one purpose never verifies for another. */
function mac(secret: string, purpose: string, ...fields: string[]): string {
  return createHmac("sha256", secret)
    .update([purpose, ...fields].join("\n"))
    .digest("base64url");
}

function sameMac(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}

export interface MintOptions {
  /** The browser session's random id (16-64 of `A-Z a-z 0-9 _ -`). */
  session: string;
  /** Epoch seconds; default now. */
  now?: number;
  ttlSeconds?: number;
}

export function mintSessionToken(secret: string, options: MintOptions): { token: string; expiresAt: number } {
  if (!isSessionId(options.session)) throw new Error("session ids are 16-64 URL-safe characters");
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const expiresAt = now + (options.ttlSeconds ?? SESSION_TOKEN_TTL_SECONDS);
  const body = `${options.session}.${expiresAt}`;
  return { token: `${SESSION_TOKEN_PREFIX}${body}.${mac(secret, "session", body)}`, expiresAt };
}

/** The session a token stands for, or null when it is malformed, forged or expired. */
export function verifySessionToken(secret: string, token: string, now = Date.now() / 1000): string | null {
  if (!token.startsWith(SESSION_TOKEN_PREFIX)) return null;
  const [session = "", exp = "", signature = "", ...rest] = token
    .slice(SESSION_TOKEN_PREFIX.length)
    .split(".");
  if (rest.length > 0 || !isSessionId(session) || !/^\d{1,12}$/.test(exp)) return null;
  if (!sameMac(signature, mac(secret, "session", `${session}.${exp}`))) return null;
  return Number(exp) > now ? session : null;
}

/**
 * The query that lets anyone holding it fetch `owner`'s audio `id` until `expiresAt` (epoch seconds), in `format`
 * when given (or as stored otherwise): the format is signed too, so a playback link cannot be turned into
 * conversions on demand.
 */
export function signAudio(
  secret: string,
  { owner, id, expiresAt, format }: { owner: string; id: string; expiresAt: number; format?: string },
): URLSearchParams {
  return new URLSearchParams({
    ...(format && { format }),
    p: owner,
    exp: String(expiresAt),
    sig: mac(secret, "audio", owner, id, String(expiresAt), format ?? ""),
  });
}

/** The principal a signed audio query speaks for (for this id and its `format` only), or null. */
export function verifyAudioSignature(
  secret: string,
  id: string,
  query: URLSearchParams,
  now = Date.now() / 1000,
): string | null {
  const owner = query.get("p");
  const exp = query.get("exp");
  const signature = query.get("sig");
  if (!owner || !exp || !signature || !/^\d{1,12}$/.test(exp)) return null;
  if (!sameMac(signature, mac(secret, "audio", owner, id, exp, query.get("format") ?? ""))) return null;
  return Number(exp) > now ? owner : null;
}

/** Prefix of the tokens inference nodes present to each other (see mintPeerToken). */
export const PEER_TOKEN_PREFIX = "tts-peer.v1.";
/** Long enough for one forwarded call to start; a followed stream is checked once, when it opens. */
export const PEER_TOKEN_TTL_SECONDS = 60;

/**
 * A token one inference node sends another to act for `owner` on a job that the other runs (progress, live audio,
 * cancel): nodes sharing storage share the secret, and nothing else holds it. `tts-peer.v1.<owner>.<exp>.<mac>`,
 * the owner base64url-encoded since principal ids may hold dots.
 */
export function mintPeerToken(secret: string, owner: string, now = Math.floor(Date.now() / 1000)): string {
  const body = `${Buffer.from(owner).toString("base64url")}.${now + PEER_TOKEN_TTL_SECONDS}`;
  return `${PEER_TOKEN_PREFIX}${body}.${mac(secret, "peer", body)}`;
}

/** The principal a peer token acts for, or null when it is malformed, forged or expired. */
export function verifyPeerToken(secret: string, token: string, now = Date.now() / 1000): string | null {
  if (!token.startsWith(PEER_TOKEN_PREFIX)) return null;
  const [owner = "", exp = "", signature = "", ...rest] = token.slice(PEER_TOKEN_PREFIX.length).split(".");
  if (rest.length > 0 || !/^[A-Za-z0-9_-]{1,200}$/.test(owner) || !/^\d{1,12}$/.test(exp)) return null;
  if (!sameMac(signature, mac(secret, "peer", `${owner}.${exp}`))) return null;
  return Number(exp) > now ? Buffer.from(owner, "base64url").toString() : null;
}
