import { z } from "zod";

import { MIN_SESSION_SECRET_LENGTH } from "@tts/api/session-token";

import { runtimeSecretsFor, withSecrets } from "./server/runtime-secrets";

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
  /**
   * The secret this server shares with the inference node: it signs session cookies and the short-lived tokens
   * browsers call the node with. Unset, the browser calls a node without credentials as its single local user.
   */
  TTS_SESSION_SECRET: z
    .string()
    .min(MIN_SESSION_SECRET_LENGTH, `expected at least ${MIN_SESSION_SECRET_LENGTH} characters`)
    .optional(),
  /** Closes the UI behind one shared password (private deployments); needs TTS_SESSION_SECRET. */
  SITE_PASSWORD: z.string().min(8, "expected at least 8 characters").optional(),
  /** Session tokens (and password tries) one client address may ask for per minute. */
  TOKEN_MINTS_PER_MINUTE: z.coerce
    .number({ message: "expected a number" })
    .int("expected a whole number")
    .min(1, "expected at least 1")
    .max(100_000, "expected at most 100000")
    .default(30),
  /**
   * Proxies in front of this server that append the client's address to X-Forwarded-For (Amplify's CDN, a load
   * balancer): 1 for one. 0 (no proxy) makes every client share the limits above, since a client can write that
   * header itself.
   */
  TRUSTED_PROXY_HOPS: z.coerce
    .number({ message: "expected a number" })
    .int("expected a whole number")
    .min(0, "expected at least 0")
    .max(10, "expected at most 10")
    .default(0),
});

const SECRET_KEYS = new Set(["TTS_SESSION_SECRET", "SITE_PASSWORD"]);

export interface WebEnv {
  publicApiBase: string;
  internalApiBase: string;
  /** Server-only: never passed to a client component. */
  sessionSecret?: string;
  /** Server-only: never passed to a client component. */
  sitePassword?: string;
  tokenMintsPerMinute: number;
  trustedProxyHops: number;
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
      // Secrets are named, never printed: this message goes to logs.
      const shown = SECRET_KEYS.has(key) ? " (value hidden)" : `=${JSON.stringify(present[key])}`;
      return `  - ${key}${shown}: ${issue.message}`;
    });
    throw new WebEnvError(`Invalid web app configuration:\n${problems.join("\n")}`);
  }
  const { NEXT_PUBLIC_TTS_API_BASE, TTS_API_INTERNAL_URL, TTS_SESSION_SECRET, SITE_PASSWORD } = result.data;
  if (SITE_PASSWORD && !TTS_SESSION_SECRET)
    throw new WebEnvError(
      "Invalid web app configuration:\n  - SITE_PASSWORD needs TTS_SESSION_SECRET, which signs the unlocked session.",
    );
  return {
    publicApiBase: NEXT_PUBLIC_TTS_API_BASE,
    internalApiBase: TTS_API_INTERNAL_URL ?? NEXT_PUBLIC_TTS_API_BASE,
    ...(TTS_SESSION_SECRET && { sessionSecret: TTS_SESSION_SECRET }),
    ...(SITE_PASSWORD && { sitePassword: SITE_PASSWORD }),
    tokenMintsPerMinute: result.data.TOKEN_MINTS_PER_MINUTE,
    trustedProxyHops: result.data.TRUSTED_PROXY_HOPS,
  };
}

export function getWebEnv(): WebEnv {
  return parseWebEnv(process.env);
}

/**
 * getWebEnv with the secrets read at run time: when TTS_SECRETS_ARN names an AWS Secrets Manager secret (a JSON
 * object), its TTS_SESSION_SECRET and SITE_PASSWORD replace the environment's (fetched at first use, cached for
 * five minutes so a rotation is picked up). What uses those two values calls this one.
 */
export async function resolveWebEnv(): Promise<WebEnv> {
  const secretsArn = process.env.TTS_SECRETS_ARN;
  if (!secretsArn) return getWebEnv();
  const secrets = await runtimeSecretsFor(secretsArn).values();
  return parseWebEnv(withSecrets(process.env, secrets, [...SECRET_KEYS]));
}
