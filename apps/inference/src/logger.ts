import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs on stdout (one object per line), ready for CloudWatch and friends. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "tts-inference" } });
}
