import { AsyncLocalStorage } from "node:async_hooks";

import { pino, type Logger } from "pino";

export type { Logger };

/** The request being served; work it starts (jobs, engine calls) inherits it through async context. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/**
 * Structured JSON logs on stdout (one object per line), ready for CloudWatch and friends. Every line written
 * while serving a request, or by work that request started, carries its `requestId`.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { service: "tts-inference" }, mixin: () => requestContext.getStore() ?? {} },
    destination,
  );
}
