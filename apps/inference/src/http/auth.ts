import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * Bearer API keys. Keys are compared as SHA-256 digests with timingSafeEqual, so neither a key's content nor its
 * length leaks through response timing. With no keys configured, every request is authorized.
 */
export function createAuthorizer(keys: readonly string[]): (req: IncomingMessage) => boolean {
  const digests = keys.map((key) => createHash("sha256").update(key).digest());
  return (req) => {
    if (digests.length === 0) return true;
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (!match?.[1]) return false;
    const presented = createHash("sha256").update(match[1].trim()).digest();
    // Check every key (no early exit) so timing does not reveal which one matched.
    return digests.reduce((ok, digest) => timingSafeEqual(digest, presented) || ok, false);
  };
}
