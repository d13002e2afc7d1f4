import { isIP } from "node:net";

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * Without API keys the node is single-user, so it serves only this machine unless told otherwise: listening
 * elsewhere without keys needs ALLOW_ANONYMOUS. Returns a warning to log when that opt-in is used; throws with
 * what to do when it is missing.
 */
export function checkExposure(options: {
  host: string;
  apiKeys: readonly string[];
  /** A session secret closes the node as keys do (only signed browser sessions get in). */
  sessionSecret?: string;
  allowAnonymous: boolean;
}): {
  warning?: string;
} {
  const { host, apiKeys, sessionSecret, allowAnonymous } = options;
  if (apiKeys.length > 0 || sessionSecret || isLoopback(host)) return {};
  if (!allowAnonymous) {
    throw new Error(
      `Refusing to listen on ${host} without API_KEYS: anyone who can reach it could use it. Set API_KEYS, ` +
        "bind to 127.0.0.1 (HOST), or set ALLOW_ANONYMOUS=true to serve without keys on purpose.",
    );
  }
  return {
    warning: `Listening on ${host} without API keys (ALLOW_ANONYMOUS=true): anyone who can reach it can use it.`,
  };
}
