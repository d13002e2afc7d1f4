import { createHash, timingSafeEqual } from "node:crypto";

import type { Principal } from "@tts/api";
import { SESSION_PRINCIPAL_PREFIX, verifyPeerToken, verifySessionToken } from "@tts/api/session-token";

import { LOCAL_OWNER } from "../services/ownership";

/** Shortest key accepted: anything shorter is guessable. */
export const MIN_API_KEY_LENGTH = 16;
const NAMED_KEY = /^([A-Za-z0-9_.-]{1,64}):(.+)$/;

export interface ApiKey {
  /** Who the key speaks for: what they create is theirs. */
  principal: string;
  key: string;
}

/**
 * One `API_KEYS` entry: `name:key` names its principal (several keys may share one, e.g. while rotating);
 * a bare key is its own principal, `key-` plus the start of its SHA-256, so the id never reveals the key.
 */
export function parseApiKey(entry: string): ApiKey {
  const named = NAMED_KEY.exec(entry);
  if (named) return { principal: named[1]!, key: named[2]! };
  return { principal: `key-${createHash("sha256").update(entry).digest("hex").slice(0, 12)}`, key: entry };
}

/**
 * An `Authorization` header value -> the caller's principal. Bearer API keys are compared as SHA-256 digests with
 * timingSafeEqual, against every key without an early exit, so neither a key's content nor its length nor which
 * one matched leaks through timing. With a session secret, a browser session's signed token is accepted too, as
 * the principal `session-<id>` (see @tts/api/session-token), and so is another node's peer token, as the
 * principal it acts for (nodes sharing storage forward a caller's request on a job that one of them runs).
 *
 * With neither keys nor a session secret, every request is the single local user; otherwise a request without
 * a valid credential has no principal (null).
 */
export function createAuthenticator(
  entries: readonly string[],
  sessionSecret?: string,
): (authorization: string | undefined) => Principal | null {
  const keys = entries.map(parseApiKey).map(({ principal, key }) => ({
    principal,
    digest: createHash("sha256").update(key).digest(),
  }));
  const local = { id: LOCAL_OWNER };
  return (authorization) => {
    if (keys.length === 0 && !sessionSecret) return local;
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    const credential = match?.[1]?.trim();
    if (!credential) return null;
    if (sessionSecret) {
      const session = verifySessionToken(sessionSecret, credential);
      if (session) return { id: `${SESSION_PRINCIPAL_PREFIX}${session}` };
      const peer = verifyPeerToken(sessionSecret, credential);
      if (peer) return { id: peer };
    }
    const presented = createHash("sha256").update(credential).digest();
    let found: string | null = null;
    for (const { principal, digest } of keys) if (timingSafeEqual(digest, presented)) found ??= principal;
    return found === null ? null : { id: found };
  };
}
