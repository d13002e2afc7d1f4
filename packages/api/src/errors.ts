/** Failure codes services raise; the router turns them into tRPC errors (and thus HTTP statuses). */
export type ServiceErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "PAYLOAD_TOO_LARGE"
  | "TOO_MANY_REQUESTS"
  | "TIMEOUT"
  | "CLIENT_CLOSED_REQUEST"
  | "SERVICE_UNAVAILABLE"
  | "NOT_IMPLEMENTED"
  | "INTERNAL_SERVER_ERROR"
  /** 507: the node's disk is (nearly) full. tRPC has no such code: it travels as INTERNAL_SERVER_ERROR + status. */
  | "INSUFFICIENT_STORAGE";

/** HTTP status of each code, for the plain routes and for the codes tRPC does not know. */
export const HTTP_STATUS: Record<ServiceErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  TIMEOUT: 504,
  CLIENT_CLOSED_REQUEST: 499,
  SERVICE_UNAVAILABLE: 503,
  NOT_IMPLEMENTED: 501,
  INTERNAL_SERVER_ERROR: 500,
  INSUFFICIENT_STORAGE: 507,
};

/** The tRPC code a service error travels as (507 has none of its own; its status is set beside it). */
export function trpcCode(code: ServiceErrorCode): Exclude<ServiceErrorCode, "INSUFFICIENT_STORAGE"> {
  return code === "INSUFFICIENT_STORAGE" ? "INTERNAL_SERVER_ERROR" : code;
}

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

/** What a caller sees of an unexpected failure: nothing of its detail (that goes to the log), only the request id. */
export function internalErrorMessage(requestId: string | undefined): string {
  return requestId
    ? `Internal error; the server log has the details under request id ${requestId}.`
    : "Internal error; the server log has the details.";
}
