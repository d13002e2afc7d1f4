import { z } from "zod";

/** Inference node configuration. The only module that reads process.env (enforced by lint). */
const originSchema = z.string().refine((value) => value === "*" || isOrigin(value), {
  message: 'expected an origin like "https://app.example.com" (scheme://host[:port], no path) or "*"',
});

const envSchema = z.object({
  PORT: z.coerce
    .number({ message: "expected a port number" })
    .int("expected a whole number")
    .min(0, "expected a port from 0 to 65535")
    .max(65535, "expected a port from 0 to 65535")
    .default(7860),
  HOST: z.string().min(1).default("0.0.0.0"),
  CORS_ORIGINS: z
    .string()
    .default("http://localhost:3000,http://127.0.0.1:3000")
    .transform((value) =>
      value
        .split(",")
        .map((origin) => origin.trim().replace(/\/$/, ""))
        .filter(Boolean),
    )
    .pipe(z.array(originSchema)),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type InferenceEnv = z.infer<typeof envSchema>;

export class EnvError extends Error {
  override name = "EnvError";
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
  } catch {
    return false;
  }
}

/**
 * Validates a raw environment. Empty values count as unset, so `PORT=` keeps the default.
 * Throws EnvError naming every bad variable, its value and what was expected.
 */
export function parseEnv(source: Record<string, string | undefined>): InferenceEnv {
  const present = Object.fromEntries(
    Object.entries(source).filter(
      ([key, value]) => key in envSchema.shape && value !== undefined && value !== "",
    ),
  );
  const result = envSchema.safeParse(present);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0]);
    return `  - ${key}=${JSON.stringify(present[key])}: ${issue.message}`;
  });
  throw new EnvError(`Invalid inference node configuration:\n${problems.join("\n")}`);
}

export function loadEnv(): InferenceEnv {
  return parseEnv(process.env);
}
