import type { IncomingMessage, ServerResponse } from "node:http";

import { HTTP_STATUS, ServiceError } from "@tts/api";

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** `{error: {code, message, type}}`: OpenAI clients read `message`/`type`, ours branch on `code`. Never a stack. */
export function sendError(res: ServerResponse, error: ServiceError): void {
  const headers: Record<string, string> = error.retryAfterSeconds
    ? { "Retry-After": String(error.retryAfterSeconds) }
    : {};
  sendJson(
    res,
    HTTP_STATUS[error.code],
    { error: { code: error.code, message: error.message, type: error.code.toLowerCase() } },
    headers,
  );
}

/** Reads a JSON body, refusing it while it streams in once it passes `maxBytes`. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new ServiceError(
      "BAD_REQUEST",
      `Send the body as JSON (Content-Type: application/json), not "${type || "none"}".`,
    );
  }
  const declared = Number(req.headers["content-length"]);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk);
    }
  } catch (error) {
    // A client that goes away mid-body is its own doing, not a server failure to log.
    if (error instanceof ServiceError || !req.destroyed) throw error;
    throw new ServiceError(
      "CLIENT_CLOSED_REQUEST",
      "The client closed the connection while sending the body.",
    );
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch (error) {
    throw new ServiceError("BAD_REQUEST", `The body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(maxBytes: number): ServiceError {
  return new ServiceError("PAYLOAD_TOO_LARGE", `The request body is larger than ${maxBytes} bytes.`);
}

/** Resolves when the response can take more bytes, or is gone. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
