import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

import type { Principal } from "@tts/api";

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
 * Bearer API keys -> the caller's principal. Keys are compared as SHA-256 digests with timingSafeEqual, against
 * every key without an early exit, so neither a key's content nor its length nor which one matched leaks through
 * timing. With no keys configured, every request is the single local user; with keys, a request without a valid
 * one has no principal (null).
 */
export function createAuthenticator(entries: readonly string[]): (req: IncomingMessage) => Principal | null {
  const keys = entries.map(parseApiKey).map(({ principal, key }) => ({
    principal,
    digest: createHash("sha256").update(key).digest(),
  }));
  const local = { id: LOCAL_OWNER };
  return (req) => {
    if (keys.length === 0) return local;
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (!match?.[1]) return null;
    const presented = createHash("sha256").update(match[1].trim()).digest();
    let found: string | null = null;
    for (const { principal, digest } of keys) if (timingSafeEqual(digest, presented)) found ??= principal;
    return found === null ? null : { id: found };
  };
}
