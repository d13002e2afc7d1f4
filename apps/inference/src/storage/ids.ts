import { randomBytes } from "node:crypto";

import { ID_PATTERN, ServiceError } from "@tts/api";

/**
 * The only ids storage accepts (the API's own id pattern). No dots or slashes, so an id can never name a parent
 * directory or a sub-path, and it is safe as a file name and as an S3 key segment alike.
 */
export { ID_PATTERN };

/** `voice_` / `tts_` + 20 url-safe characters (120 random bits). */
export function newId(prefix: "voice" | "tts"): string {
  return `${prefix}_${randomBytes(15).toString("base64url")}`;
}

export function isValidId(id: unknown): id is string {
  return typeof id === "string" && ID_PATTERN.test(id);
}

export class InvalidIdError extends Error {
  constructor(id: unknown) {
    // Ids come from clients: quote a bounded, escaped form so the message stays one short line.
    const shown = typeof id === "string" ? JSON.stringify(id.slice(0, 80)) : typeof id;
    super(`invalid id ${shown}: expected ${String(ID_PATTERN)}`);
    this.name = "InvalidIdError";
  }
}

export function assertValidId(id: unknown): asserts id is string {
  if (!isValidId(id)) throw new InvalidIdError(id);
}

/** For ids that reach a service outside the API's schemas (e.g. the OpenAI route): a client error, early. */
export function requireId(kind: "voice" | "job" | "audio", id: string): string {
  if (!ID_PATTERN.test(id)) throw new ServiceError("BAD_REQUEST", `Invalid ${kind} id "${id.slice(0, 80)}".`);
  return id;
}
