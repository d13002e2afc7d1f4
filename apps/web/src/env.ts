import { z } from "zod";

/**
 * Web app configuration, read on the server at request time (so one build serves every environment) and handed
 * to the browser through props. The only module that reads process.env (enforced by lint).
 */
const httpUrl = z
  .url({ protocol: /^https?$/, message: 'expected an http(s) URL like "https://api.example.com"' })
  .transform((value) => value.replace(/\/+$/, ""));

const webEnvSchema = z.object({
  /** Where browsers reach the inference node (tRPC at /trpc, audio at /v1); the earlier service's name. */
  NEXT_PUBLIC_TTS_API_BASE: httpUrl.default("http://localhost:7860"),
  /** Where this Next.js server reaches it for prefetching (e.g. a private address); defaults to the public one. */
  TTS_API_INTERNAL_URL: httpUrl.optional(),
});

export interface WebEnv {
  publicApiBase: string;
  internalApiBase: string;
}

export class WebEnvError extends Error {
  override name = "WebEnvError";
}

export function parseWebEnv(source: Record<string, string | undefined>): WebEnv {
  const present = Object.fromEntries(
    Object.entries(source).filter(
      ([key, value]) => key in webEnvSchema.shape && value !== undefined && value !== "",
    ),
  );
  const result = webEnvSchema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `  - ${key}=${JSON.stringify(present[key])}: ${issue.message}`;
    });
    throw new WebEnvError(`Invalid web app configuration:\n${problems.join("\n")}`);
  }
  const { NEXT_PUBLIC_TTS_API_BASE, TTS_API_INTERNAL_URL } = result.data;
  return {
    publicApiBase: NEXT_PUBLIC_TTS_API_BASE,
    internalApiBase: TTS_API_INTERNAL_URL ?? NEXT_PUBLIC_TTS_API_BASE,
  };
}

export function getWebEnv(): WebEnv {
  return parseWebEnv(process.env);
}
