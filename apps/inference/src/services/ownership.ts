import { ServiceError } from "@tts/api";

import { StorageWriteError } from "../storage/storage";

/** The principal of a node without API keys: its single user owns everything, including pre-ownership records. */
export const LOCAL_OWNER = "local";

/** Whether a stored record belongs to `owner`; records from before ownership belong to the local user. */
export function isOwner(meta: { owner?: string }, owner: string): boolean {
  return (meta.owner ?? LOCAL_OWNER) === owner;
}

/**
 * A storage failure as callers should see it: a full disk is 507 (retry later, maybe elsewhere); anything else
 * is an internal error whose detail only the log gets. `what` says what did not happen.
 */
export function storageFailure(error: unknown, what: string): unknown {
  if (!(error instanceof StorageWriteError)) return error;
  if (error.kind === "full")
    return new ServiceError(
      "INSUFFICIENT_STORAGE",
      `The server's disk is nearly full: ${what}. Try again later.`,
    );
  return error;
}
