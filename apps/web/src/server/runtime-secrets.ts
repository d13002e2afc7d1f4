import {
  GetSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
} from "@aws-sdk/client-secrets-manager";

/**
 * Secrets the web server reads at run time from AWS Secrets Manager (TTS_SECRETS_ARN), so they are never baked
 * into a build (Amplify writes build-time variables into the deployed bundle). The secret is a JSON object of
 * env-like keys, e.g. {"TTS_SESSION_SECRET": "...", "SITE_PASSWORD": "..."}. It is fetched at first use and
 * kept for a TTL, so a rotated value is picked up within minutes without a redeploy. Messages name the secret and
 * the AWS error, never a value.
 */
export class RuntimeSecretsError extends Error {
  override name = "RuntimeSecretsError";
}

export interface RuntimeSecrets {
  /** The secret's key/value pairs: cached, fetched again once the TTL has passed. */
  values(): Promise<Readonly<Record<string, string>>>;
}

export interface RuntimeSecretsOptions {
  /** The secret's ARN (or name). */
  secretId: string;
  /** How long values are kept before they are fetched again. */
  ttlMs?: number;
  /** After a failed refresh the last values are served and the next fetch waits this long. */
  retryMs?: number;
  /** Extra client settings (an endpoint, credentials); the SDK's usual sources fill in the rest. */
  clientConfig?: SecretsManagerClientConfig;
  now?: () => number;
  logger?: Pick<Console, "warn">;
}

export const DEFAULT_SECRETS_TTL_MS = 5 * 60_000;
const DEFAULT_RETRY_MS = 30_000;

/** A secret lives in the region its ARN names (arn:aws:secretsmanager:<region>:<account>:secret:<name>). */
export function regionOfArn(secretId: string): string | undefined {
  const match = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(secretId);
  return match?.[1];
}

function parseSecret(secretId: string, text: string | undefined): Record<string, string> {
  const expected = `expected a JSON object of strings like {"TTS_SESSION_SECRET": "..."}`;
  if (text === undefined)
    throw new RuntimeSecretsError(
      `The secret ${secretId} has no SecretString (a binary secret?): ${expected}.`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the text: it stays out of the logs.
    throw new RuntimeSecretsError(`The secret ${secretId} is not JSON: ${expected}.`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new RuntimeSecretsError(`The secret ${secretId} is not a JSON object: ${expected}.`);
  const values: Record<string, string> = {};
  const notStrings: string[] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value === "string") values[key] = value;
    else notStrings.push(key);
  }
  if (notStrings.length > 0)
    throw new RuntimeSecretsError(
      `The secret ${secretId} has values that are not strings (${notStrings.join(", ")}): ${expected}.`,
    );
  return values;
}

export function createRuntimeSecrets(options: RuntimeSecretsOptions): RuntimeSecrets {
  const { secretId } = options;
  const ttlMs = options.ttlMs ?? DEFAULT_SECRETS_TTL_MS;
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? console;
  const region = regionOfArn(secretId);
  const client = new SecretsManagerClient({
    ...(region && { region }),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 },
    ...options.clientConfig,
  });

  let cached: { values: Record<string, string>; fetchedAt: number; expiresAt: number } | undefined;
  let pending: Promise<Record<string, string>> | undefined;

  const fetchSecret = async (): Promise<Record<string, string>> => {
    let text: string | undefined;
    try {
      ({ SecretString: text } = await client.send(new GetSecretValueCommand({ SecretId: secretId })));
    } catch (error) {
      const { name, message } = error as Error;
      throw new RuntimeSecretsError(
        `Could not read the secret ${secretId} from AWS Secrets Manager (TTS_SECRETS_ARN): ${name}: ${message}`,
        { cause: error },
      );
    }
    return parseSecret(secretId, text);
  };

  return {
    values() {
      if (cached && now() < cached.expiresAt) return Promise.resolve(cached.values);
      // Concurrent requests share one fetch.
      pending ??= fetchSecret()
        .then(
          (values) => {
            cached = { values, fetchedAt: now(), expiresAt: now() + ttlMs };
            return values;
          },
          (error: unknown) => {
            // Once values were read, a failed refresh keeps serving them (rotation is rarely urgent) and says so.
            if (!cached) throw error;
            const ageSeconds = Math.round((now() - cached.fetchedAt) / 1000);
            logger.warn(
              `${(error as Error).message}; serving the values read ${ageSeconds} s ago, retrying in ` +
                `${Math.round(retryMs / 1000)} s`,
            );
            cached.expiresAt = now() + retryMs;
            return cached.values;
          },
        )
        .finally(() => (pending = undefined));
      return pending;
    },
  };
}

/** One cache per secret for the whole server process (route handlers and pages may be bundled apart). */
const shared = ((globalThis as { [key: symbol]: unknown })[Symbol.for("tts.web.runtimeSecrets")] ??= new Map<
  string,
  RuntimeSecrets
>()) as Map<string, RuntimeSecrets>;

export function runtimeSecretsFor(secretId: string): RuntimeSecrets {
  let secrets = shared.get(secretId);
  if (!secrets) {
    secrets = createRuntimeSecrets({ secretId });
    shared.set(secretId, secrets);
  }
  return secrets;
}

const warnedShadowed = new Set<string>();

/**
 * The environment with the secret's values for `keys` laid over it. The secret wins over a variable of the same
 * name (it is the source of truth, and rotation must take effect); a shadowed variable is reported by name once.
 * Keys outside `keys` are ignored, so one secret can also hold what other services read (the node's API_KEYS).
 */
export function withSecrets(
  env: Record<string, string | undefined>,
  secrets: Readonly<Record<string, string>>,
  keys: readonly string[],
  logger: Pick<Console, "warn"> = console,
): Record<string, string | undefined> {
  const merged = { ...env };
  for (const key of keys) {
    const value = secrets[key];
    if (value === undefined || value === "") continue;
    if (env[key] && env[key] !== value && !warnedShadowed.has(key)) {
      warnedShadowed.add(key);
      logger.warn(
        `${key} is set in the environment and in TTS_SECRETS_ARN's secret; the secret's value is used.`,
      );
    }
    merged[key] = value;
  }
  return merged;
}
