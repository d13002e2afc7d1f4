import type { ModelSpec } from "./registry";

export type DownloadErrorCode =
  "unreachable" | "unauthorized" | "not-found" | "http" | "size-mismatch" | "hash-mismatch" | "network";

export class ModelDownloadError extends Error {
  override name = "ModelDownloadError";

  readonly status: number | undefined;

  constructor(
    message: string,
    readonly file: string,
    readonly code: DownloadErrorCode,
    options: ErrorOptions & { status?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}

/** A transfer that ended early or could not resume where asked: worth another attempt. */
export class InterruptedError extends Error {
  /** The partial cannot be resumed: start the next attempt from zero. */
  readonly discard: boolean;

  constructor(message: string, { discard = false } = {}) {
    super(message);
    this.discard = discard;
  }
}

// Failures that mean the host was never reached (as opposed to a connection dropping mid-transfer).
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const DROPPED = new Set(["ECONNRESET", "ECONNABORTED", "EPIPE"]);

/** `reached`: the host has answered before, so failing to reach it now is a blip rather than being offline. */
export function isRetryable(error: unknown, reached: boolean): boolean {
  if (error instanceof ModelDownloadError) {
    return (
      error.code === "http" && error.status !== undefined && (error.status >= 500 || error.status === 429)
    );
  }
  if (error instanceof InterruptedError) return true;
  const code = errorCode(error) ?? "";
  // Local failures (disk full, permissions) are not retried: another attempt would fail the same way.
  return code.startsWith("UND_ERR_") || DROPPED.has(code) || (reached && UNREACHABLE.has(code));
}

/** A failure of the connection itself (never reached, dropped, timed out), as opposed to an answer. */
export function isNetworkFailure(error: unknown): boolean {
  const code = errorCode(error) ?? "";
  return code.startsWith("UND_ERR_") || DROPPED.has(code) || UNREACHABLE.has(code);
}

/** The wait after failed attempt `attempt` (1-based): `firstDelayMs`, doubling per attempt up to 30 s. */
export function backoffMs(firstDelayMs: number, attempt: number): number {
  return Math.min(firstDelayMs * 2 ** (attempt - 1), 30_000);
}

export function statusError(
  ctx: { spec: ModelSpec; token: string | undefined },
  file: string,
  status: number,
  url: string,
): ModelDownloadError {
  const { repo, revision } = ctx.spec;
  if (status === 401 || status === 403) {
    const hint = ctx.token
      ? `The token was rejected: check that HF_TOKEN is valid and can read ${repo}.`
      : `If ${repo} is gated or private, set HF_TOKEN to a Hugging Face access token with read access ` +
        `(https://huggingface.co/settings/tokens).`;
    const message = `Access denied (HTTP ${status}) for ${url}. ${hint}`;
    return new ModelDownloadError(message, file, "unauthorized", { status });
  }
  if (status === 404) {
    return new ModelDownloadError(
      `${file} not found in ${repo} at pinned revision ${revision} (repository moved?). URL: ${url}`,
      file,
      "not-found",
      { status },
    );
  }
  return new ModelDownloadError(`HTTP ${status} for ${url}`, file, "http", { status });
}

export function sizeMismatch(file: string, expected: number, actual: number): ModelDownloadError {
  return new ModelDownloadError(
    `Size mismatch for ${file}: expected ${expected} bytes, got ${actual}. The partial download was deleted.`,
    file,
    "size-mismatch",
  );
}

export function hashMismatch(
  file: string,
  kind: string,
  expected: string,
  actual: string,
): ModelDownloadError {
  return new ModelDownloadError(
    `Hash mismatch for ${file}: the hub publishes ${kind} ${expected}, the downloaded bytes have ${actual}. ` +
      `The partial download was deleted.`,
    file,
    "hash-mismatch",
  );
}

/** A cached file found corrupt whose fresh download failed too: the message names it, the code stays. */
export function unrepairedError(file: string, dir: string, corruption: string, error: unknown): unknown {
  if (!(error instanceof ModelDownloadError)) return error;
  return new ModelDownloadError(
    `Model file ${file} in ${dir} is corrupt (${corruption}), and downloading it again failed: ${error.message}`,
    file,
    error.code,
    { status: error.status, cause: error },
  );
}

/** Turns the last failure into advice; local errors (disk, permissions) pass through unchanged. */
export function finalError(
  ctx: { endpoint: string; dir: string },
  file: string,
  error: unknown,
  attempts: number,
): unknown {
  if (error instanceof ModelDownloadError) {
    if (error.code !== "http" || attempts === 1) return error;
    return new ModelDownloadError(`${error.message} (after ${attempts} attempts)`, file, "http", {
      status: error.status,
      cause: error,
    });
  }
  const code = errorCode(error);
  if (code && UNREACHABLE.has(code)) {
    return new ModelDownloadError(
      `Cannot reach ${ctx.endpoint} (${code}). Check your internet connection or proxy, ` +
        `or copy the model files into ${ctx.dir} (see \`tts models list\`).`,
      file,
      "unreachable",
      { cause: error },
    );
  }
  if (!isRetryable(error, true)) return error;
  return new ModelDownloadError(
    `Downloading ${file} failed after ${attempts} attempts (${errorMessage(error)}). ` +
      `Run the command again to resume from the bytes already saved.`,
    file,
    "network",
    { cause: error },
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The system or undici error code of `error`, looking through causes and AggregateErrors. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, errors, cause } = error as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === "string") return code;
  // Happy-eyeballs connects fail with an AggregateError of one error per address.
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  return cause === undefined ? undefined : errorCode(cause);
}
