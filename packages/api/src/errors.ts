/** Failure codes services raise; the router turns them into tRPC errors (and thus HTTP statuses). */
export type ServiceErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "NOT_FOUND"
  | "PAYLOAD_TOO_LARGE"
  | "TOO_MANY_REQUESTS"
  | "TIMEOUT"
  | "CLIENT_CLOSED_REQUEST"
  | "SERVICE_UNAVAILABLE"
  | "NOT_IMPLEMENTED"
  | "INTERNAL_SERVER_ERROR";

/** An error whose message is written for the API's caller. */
export class ServiceError extends Error {
  override name = "ServiceError";

  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    /** Seconds a client should wait before retrying (429 / 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** What a caller without a valid key is told, by tRPC and by the plain HTTP routes alike. */
export const API_KEY_REQUIRED = "A valid API key is required: send `Authorization: Bearer <key>`.";
