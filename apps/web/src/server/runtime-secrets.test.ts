import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { resolveWebEnv } from "../env";
import { createRuntimeSecrets, regionOfArn, RuntimeSecretsError, withSecrets } from "./runtime-secrets";

const SESSION_SECRET = "s".repeat(40);
const ROTATED_SECRET = "r".repeat(40);
const arn = (name: string) => `arn:aws:secretsmanager:eu-west-3:123456789012:secret:tts/${name}-AbCdEf`;

interface SecretRequest {
  target: string | undefined;
  contentType: string | undefined;
  authorization: string;
  body: { SecretId?: string };
}

type Answer =
  { SecretString?: string } | { status: number; type: string; message: string; retryable?: boolean };

/**
 * A local stand-in for AWS Secrets Manager speaking its JSON protocol (POST /, X-Amz-Target
 * secretsmanager.GetSecretValue, application/x-amz-json-1.1), with the answer per secret id set by the test.
 */
const answers = new Map<string, Answer>();
const requests: SecretRequest[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk: Buffer) => (raw += chunk.toString()));
    req.on("end", () => {
      const headers: IncomingHttpHeaders = req.headers;
      const body = JSON.parse(raw || "{}") as { SecretId?: string };
      requests.push({
        target: headers["x-amz-target"] as string | undefined,
        contentType: headers["content-type"],
        authorization: headers.authorization ?? "",
        body,
      });
      const answer = answers.get(body.SecretId ?? "");
      const reply = (status: number, json: unknown, extra: Record<string, string> = {}) =>
        res
          .writeHead(status, { "content-type": "application/x-amz-json-1.1", ...extra })
          .end(JSON.stringify(json));
      if (req.method !== "POST" || headers["x-amz-target"] !== "secretsmanager.GetSecretValue")
        return reply(400, { __type: "UnknownOperationException", message: "unexpected request" });
      if (!answer)
        return reply(
          400,
          {
            __type: "ResourceNotFoundException",
            message: "Secrets Manager can't find the specified secret.",
          },
          { "x-amzn-errortype": "ResourceNotFoundException" },
        );
      if ("status" in answer) return reply(answer.status, { __type: answer.type, message: answer.message });
      reply(200, {
        ARN: body.SecretId,
        Name: "tts/web",
        VersionId: "v1",
        VersionStages: ["AWSCURRENT"],
        CreatedDate: 1_700_000_000,
        ...answer,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

afterEach(() => {
  answers.clear();
  requests.length = 0;
  vi.unstubAllEnvs();
});

const fakeCredentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-real-secret" };

function secretsWithClock(secretId: string, options: { ttlMs?: number; retryMs?: number } = {}) {
  let clock = 1_000_000;
  const warn = vi.fn<(message: string) => void>();
  const secrets = createRuntimeSecrets({
    secretId,
    ttlMs: 60_000,
    ...options,
    now: () => clock,
    logger: { warn },
    clientConfig: { endpoint, credentials: fakeCredentials, maxAttempts: 1 },
  });
  return { secrets, warn, advance: (ms: number) => (clock += ms) };
}

describe("runtime secrets from AWS Secrets Manager", () => {
  it("reads the secret's JSON once, signed for the ARN's region, and serves it from the cache within the TTL", async () => {
    const id = arn("cache");
    answers.set(id, { SecretString: JSON.stringify({ TTS_SESSION_SECRET: SESSION_SECRET, OTHER: "x" }) });
    const { secrets, advance } = secretsWithClock(id);
    const [first, second] = await Promise.all([secrets.values(), secrets.values()]);
    expect(first).toEqual({ TTS_SESSION_SECRET: SESSION_SECRET, OTHER: "x" });
    expect(second).toBe(first);
    advance(59_000);
    await secrets.values();
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      target: "secretsmanager.GetSecretValue",
      contentType: "application/x-amz-json-1.1",
      body: { SecretId: id },
    });
    expect(requests[0]?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-3\/secretsmanager\/aws4_request/,
    );
  });

  it("fetches again after the TTL, so a rotated value is picked up", async () => {
    const id = arn("rotate");
    answers.set(id, { SecretString: JSON.stringify({ TTS_SESSION_SECRET: SESSION_SECRET }) });
    const { secrets, advance } = secretsWithClock(id);
    expect((await secrets.values()).TTS_SESSION_SECRET).toBe(SESSION_SECRET);
    answers.set(id, { SecretString: JSON.stringify({ TTS_SESSION_SECRET: ROTATED_SECRET }) });
    advance(60_001);
    expect((await secrets.values()).TTS_SESSION_SECRET).toBe(ROTATED_SECRET);
    expect(requests).toHaveLength(2);
  });

  it("fails with the ARN and the AWS error when the secret cannot be read, and retries on the next call", async () => {
    const id = arn("missing");
    const { secrets } = secretsWithClock(id);
    const error = await secrets.values().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RuntimeSecretsError);
    expect((error as Error).message).toBe(
      `Could not read the secret ${id} from AWS Secrets Manager (TTS_SECRETS_ARN): ` +
        "ResourceNotFoundException: Secrets Manager can't find the specified secret.",
    );
    answers.set(id, {
      status: 400,
      type: "AccessDeniedException",
      message: "not authorized to GetSecretValue",
    });
    await expect(secrets.values()).rejects.toThrow(/AccessDeniedException: not authorized to GetSecretValue/);
    expect(requests).toHaveLength(2);
  });

  it("keeps serving the last values when a refresh fails, says so without the values, and retries later", async () => {
    const id = arn("stale");
    answers.set(id, { SecretString: JSON.stringify({ TTS_SESSION_SECRET: SESSION_SECRET }) });
    const { secrets, warn, advance } = secretsWithClock(id, { retryMs: 10_000 });
    await secrets.values();
    answers.set(id, { status: 400, type: "AccessDeniedException", message: "role lost its permission" });
    advance(61_000);
    expect((await secrets.values()).TTS_SESSION_SECRET).toBe(SESSION_SECRET);
    expect(warn).toHaveBeenCalledOnce();
    const message = warn.mock.calls[0]![0];
    expect(message).toContain(id);
    expect(message).toContain("AccessDeniedException: role lost its permission");
    expect(message).toContain("serving the values read 61 s ago, retrying in 10 s");
    expect(message).not.toContain(SESSION_SECRET);
    // Within the retry wait: no request.
    advance(9_000);
    await secrets.values();
    expect(requests).toHaveLength(2);
    answers.set(id, { SecretString: JSON.stringify({ TTS_SESSION_SECRET: ROTATED_SECRET }) });
    advance(1_001);
    expect((await secrets.values()).TTS_SESSION_SECRET).toBe(ROTATED_SECRET);
    expect(requests).toHaveLength(3);
  });

  it.each([
    ["not JSON", "hunter2-password", "is not JSON", "hunter2"],
    ["not an object", JSON.stringify(["hunter2-password"]), "is not a JSON object", "hunter2"],
    [
      "a value that is not a string",
      JSON.stringify({ SITE_PASSWORD: 31415926 }),
      "(SITE_PASSWORD)",
      "31415926",
    ],
  ])("refuses a secret that is %s, without quoting it", async (_, text, expected, leak) => {
    const id = arn(`bad-${expected.length}`);
    answers.set(id, { SecretString: text });
    const { secrets } = secretsWithClock(id);
    const error = (await secrets.values().catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(RuntimeSecretsError);
    expect(error.message).toContain(id);
    expect(error.message).toContain(expected);
    expect(error.message).not.toContain(leak);
  });

  it("takes the region from the ARN", () => {
    expect(regionOfArn(arn("x"))).toBe("eu-west-3");
    expect(regionOfArn("tts/web")).toBeUndefined();
  });

  it("lays only the named keys over the environment, the secret winning, and names a shadowed variable once", () => {
    const warn = vi.fn();
    const env = { TTS_SESSION_SECRET: "from-env".repeat(5), PORT: "3000" };
    const secrets = {
      TTS_SESSION_SECRET: SESSION_SECRET,
      SITE_PASSWORD: "open sesame",
      API_KEYS: "node-only",
    };
    const merged = withSecrets(env, secrets, ["TTS_SESSION_SECRET", "SITE_PASSWORD"], { warn });
    expect(merged).toEqual({
      TTS_SESSION_SECRET: SESSION_SECRET,
      SITE_PASSWORD: "open sesame",
      PORT: "3000",
    });
    withSecrets(env, secrets, ["TTS_SESSION_SECRET"], { warn });
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]![0]).toBe(
      "TTS_SESSION_SECRET is set in the environment and in TTS_SECRETS_ARN's secret; the secret's value is used.",
    );
  });
});

describe("resolveWebEnv", () => {
  it("without TTS_SECRETS_ARN is the environment alone", async () => {
    vi.stubEnv("TTS_SECRETS_ARN", "");
    vi.stubEnv("TTS_SESSION_SECRET", SESSION_SECRET);
    expect((await resolveWebEnv()).sessionSecret).toBe(SESSION_SECRET);
    expect(requests).toHaveLength(0);
  });

  it("with TTS_SECRETS_ARN takes the session secret and site password from Secrets Manager (endpoint from the SDK's variable)", async () => {
    const id = arn("web-env");
    answers.set(id, {
      SecretString: JSON.stringify({ TTS_SESSION_SECRET: SESSION_SECRET, SITE_PASSWORD: "open sesame" }),
    });
    vi.stubEnv("TTS_SECRETS_ARN", id);
    vi.stubEnv("TTS_SESSION_SECRET", "");
    vi.stubEnv("SITE_PASSWORD", "");
    vi.stubEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint);
    vi.stubEnv("AWS_ACCESS_KEY_ID", fakeCredentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", fakeCredentials.secretAccessKey);
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    const env = await resolveWebEnv();
    expect(env).toMatchObject({ sessionSecret: SESSION_SECRET, sitePassword: "open sesame" });
    // Cached for the process: a second request reads no secret.
    await resolveWebEnv();
    expect(requests).toHaveLength(1);
  });

  it("surfaces a secret that cannot be read as an error naming it", async () => {
    const id = arn("web-env-missing");
    vi.stubEnv("TTS_SECRETS_ARN", id);
    vi.stubEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint);
    vi.stubEnv("AWS_ACCESS_KEY_ID", fakeCredentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", fakeCredentials.secretAccessKey);
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    await expect(resolveWebEnv()).rejects.toThrow(
      `Could not read the secret ${id} from AWS Secrets Manager (TTS_SECRETS_ARN): ResourceNotFoundException`,
    );
  });
});
