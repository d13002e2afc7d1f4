"use client";

import type { SessionTokenReply } from "../server/session-routes";

/** Renew this long before a token expires, so no call goes out with one about to lapse. */
const RENEW_BEFORE_MS = 60_000;

let cached: { authorization: string | null; renewAt: number } | undefined;
let pending: Promise<string | null> | undefined;

async function fetchToken(): Promise<string | null> {
  const response = await fetch("/api/session/token", { method: "POST", credentials: "same-origin" });
  if (!response.ok) {
    const body = (await response.json().catch(() => null)) as { error?: string } | null;
    throw new Error(body?.error ?? `The web server refused a session token (HTTP ${response.status}).`);
  }
  const { token, expiresAt } = (await response.json()) as SessionTokenReply;
  const authorization = token ? `Bearer ${token}` : null;
  cached = { authorization, renewAt: expiresAt === null ? Infinity : expiresAt - RENEW_BEFORE_MS };
  return authorization;
}

/**
 * The `Authorization` value for calls to the inference node: this browser session's short-lived token, minted by
 * the web server (which holds the secret) and renewed before it expires; null when the node needs none.
 */
export async function sessionAuthorization(): Promise<string | null> {
  if (cached && Date.now() < cached.renewAt) return cached.authorization;
  pending ??= fetchToken().finally(() => (pending = undefined));
  return pending;
}

/** Drops the cached token (the node refused it: a new secret, or a session it no longer knows). */
export function forgetSessionToken(): void {
  cached = undefined;
}

export async function sessionHeaders(): Promise<Record<string, string>> {
  const authorization = await sessionAuthorization();
  return authorization ? { Authorization: authorization } : {};
}
