import * as pulumi from "@pulumi/pulumi";

/** Where the web app runs: Amplify Hosting, or its standalone image on Fargate behind CloudFront. */
export type WebHosting = "amplify" | "ecs";
/** Public subnets with a public IP per task (no NAT), or private subnets behind one NAT gateway per AZ. */
export type TaskSubnets = "public" | "private";

export interface StackSecrets {
  /** TTS_SESSION_SECRET, shared by the node and the web server (32+ characters). */
  sessionSecret: pulumi.Output<string>;
  /** The key the collector scrapes `/metrics` with; added to the node's API_KEYS as `metrics:<key>`. */
  metricsKey: pulumi.Output<string>;
  /** API_KEYS for programmatic clients (`name:key,...`). */
  apiKeys?: pulumi.Output<string>;
  /** SITE_PASSWORD of the web app. */
  sitePassword?: pulumi.Output<string>;
  /** HF_TOKEN for model downloads. */
  hfToken?: pulumi.Output<string>;
  /** A GitHub token Amplify reads the repository with (webHosting=amplify only). */
  githubAccessToken?: pulumi.Output<string>;
}

/** Every setting of a stack, validated once (`tts:*` in Pulumi.<stack>.yaml; docs/deploy.md lists them). */
export interface StackConfig {
  stack: string;
  /** Start of every resource name (`tts-<stack>`), which also scopes the deploy role's IAM rights. */
  prefix: string;
  zoneName: string;
  webDomain: string;
  apiDomain: string;
  availabilityZones?: [string, string];
  taskSubnets: TaskSubnets;
  imageTag: string;
  gpu: boolean;
  gpuInstanceType: string;
  /** Task size: Fargate CPU units and MiB, or what one task takes of a GPU instance. */
  cpu: number;
  memory: number;
  minTasks: number;
  maxTasks: number;
  targetJobsPerTask: number;
  targetCpuPercent: number;
  healthCheckGraceSeconds: number;
  drainTimeoutSeconds: number;
  albIdleTimeoutSeconds: number;
  tlsPolicy: string;
  audioTtlSeconds: number;
  s3Prefix: string;
  bucketVersioning: boolean;
  model: string;
  dtype: string;
  inferenceEnv: Record<string, string>;
  logRetentionDays: number;
  alarmEmail?: string;
  alarm5xxCount: number;
  alarmLatencyP99Seconds: number;
  alarmQueueDepth: number;
  collectorImage: string;
  webHosting: WebHosting;
  webCpu: number;
  webMemory: number;
  webTasks: number;
  githubRepo: string;
  githubOidcProviderArn?: string;
  forceDestroy: boolean;
  secrets: StackSecrets;
}

/** Fargate's ceiling for a container's stopTimeout: the node's drain must end before it. */
export const STOP_TIMEOUT_SECONDS = 120;
/** Time the node needs after its drain deadline to answer 503, release storage and exit. */
const EXIT_MARGIN_SECONDS = 15;
export const MAX_DRAIN_SECONDS = STOP_TIMEOUT_SECONDS - EXIT_MARGIN_SECONDS;

/** Values CloudWatch Logs accepts for retention. */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653];
/** Variables the program sets itself (or injects as secrets): tts:inferenceEnv may not override them. */
const MANAGED_ENV = new Set([
  "PORT",
  "HOST",
  "API_KEYS",
  "TTS_SESSION_SECRET",
  "HF_TOKEN",
  "S3_BUCKET",
  "S3_PREFIX",
  "S3_ENDPOINT",
  "AWS_REGION",
  "AUDIO_TTL_SECONDS",
  "DRAIN_TIMEOUT_SECONDS",
  "HTTP_KEEP_ALIVE_SECONDS",
  "TTS_CACHE_DIR",
  "TTS_MODEL_DIR",
  "TTS_DEVICE",
  "CORS_ORIGINS",
  "TRUSTED_PROXIES",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_SERVICE_NAME",
]);
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const SECRET_HINT = "set it with `pulumi config set --secret";

/** A configuration mistake, reported without a stack trace (what to change is in the message). */
function fail(message: string): never {
  throw new pulumi.RunError(`Invalid stack configuration: ${message}`);
}

/** API_KEYS entries as the node reads them: `name:key` or a bare key, each key 16+ characters. */
function checkApiKeys(value: string): void {
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) fail(`tts:apiKeys holds no key; remove it to run without client keys.`);
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    const name = colon > 0 ? entry.slice(0, colon) : "";
    const key = colon > 0 ? entry.slice(colon + 1) : entry;
    if (key.length < 16) fail(`every key in tts:apiKeys needs at least 16 characters (value hidden).`);
    if (name.startsWith("session-") || name === "metrics")
      fail(
        `tts:apiKeys may not use the key name "${name}" (reserved for browser sessions and the metrics scraper).`,
      );
  }
}

/** Fargate's task sizes: memory (MiB) allowed for each CPU value, and its step. */
const FARGATE_MEMORY: Record<number, [min: number, max: number, step: number]> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16_384, 1024],
  4096: [8192, 30_720, 1024],
  8192: [16_384, 61_440, 4096],
  16_384: [32_768, 122_880, 8192],
};

function checkFargateSize(cpuKey: string, memoryKey: string, cpu: number, memory: number): void {
  const range = FARGATE_MEMORY[cpu];
  if (!range) fail(`tts:${cpuKey} ${cpu} is not a Fargate size (${Object.keys(FARGATE_MEMORY).join(", ")}).`);
  const [min, max, step] = range;
  if (memory < min || memory > max || memory % step !== 0)
    fail(
      `tts:${memoryKey} ${memory} does not fit tts:${cpuKey} ${cpu} on Fargate: ${min} to ${max} MiB in steps of ${step}.`,
    );
}

/** Reads and validates the `tts:*` settings of the current stack. */
export function loadConfig(): StackConfig {
  const config = new pulumi.Config("tts");
  const stack = pulumi.getStack();
  // The stack name is part of every resource name (ECR repositories are tts-<stack>/<image>, CI pushes there) and
  // AWS limits some names to 32 characters.
  if (!/^[a-z0-9][a-z0-9-]{0,15}$/.test(stack))
    fail(
      `the stack name "${stack}" must be lowercase letters, digits and dashes, at most 16 characters (it names every resource).`,
    );

  const domain = (key: string, fallback?: string): string => {
    const value = (config.get(key) ?? fallback)?.toLowerCase().replace(/\.$/, "");
    if (!value)
      fail(`tts:${key} is required (e.g. ${key === "zoneName" ? "example.com" : "tts.example.com"}).`);
    if (!DOMAIN.test(value)) fail(`tts:${key} "${value}" is not a domain name.`);
    return value;
  };
  const number = (key: string, fallback: number, min: number, max: number): number => {
    const value = config.getNumber(key) ?? fallback;
    if (!Number.isInteger(value) || value < min || value > max)
      fail(`tts:${key} is ${value}; expected a whole number from ${min} to ${max}.`);
    return value;
  };
  // Secrets are read as plain text to be checked without ever printing them, then travel on as Pulumi secrets.
  const optionalSecret = (key: string, minLength: number): pulumi.Output<string> | undefined => {
    const value = config.get(key);
    if (value === undefined || value === "") return undefined;
    if (value.length < minLength)
      fail(
        `tts:${key} needs at least ${minLength} characters (value hidden); ${SECRET_HINT} tts:${key} <value>\`.`,
      );
    return pulumi.secret(value);
  };
  const requiredSecret = (key: string, minLength: number): pulumi.Output<string> =>
    optionalSecret(key, minLength) ?? fail(`tts:${key} is required; ${SECRET_HINT} tts:${key} <value>\`.`);

  const zoneName = domain("zoneName");
  const webDomain = domain("webDomain", zoneName);
  const apiDomain = domain("apiDomain", `api.${webDomain}`);
  for (const [key, value] of [
    ["webDomain", webDomain],
    ["apiDomain", apiDomain],
  ] as const) {
    if (value !== zoneName && !value.endsWith(`.${zoneName}`))
      fail(`tts:${key} "${value}" is not inside the hosted zone tts:zoneName "${zoneName}".`);
  }
  if (webDomain === apiDomain) fail(`tts:webDomain and tts:apiDomain must differ (both are "${webDomain}").`);

  const gpu = config.getBoolean("gpu") ?? false;
  const taskSubnets =
    config.get<TaskSubnets>("taskSubnets", { allowedValues: ["public", "private"] }) ??
    (gpu ? "private" : "public");
  // Tasks on EC2 (awsvpc) get no public IP, so without NAT they could reach neither ECR, S3 nor the model hub.
  if (gpu && taskSubnets === "public")
    fail(
      `tts:gpu needs tts:taskSubnets "private": GPU tasks on EC2 get no public IP and reach ECR, S3 and Hugging Face through NAT.`,
    );
  const gpuInstanceType = config.get("gpuInstanceType") ?? "g6.xlarge";
  if (!/^(g4dn|g5|g6|g6e)\.[0-9]*x?large$/.test(gpuInstanceType))
    fail(
      `tts:gpuInstanceType "${gpuInstanceType}" is not an x86 NVIDIA instance type (g4dn, g5, g6 or g6e).`,
    );

  const azs = config.getObject<string[]>("availabilityZones");
  if (
    azs !== undefined &&
    (!Array.isArray(azs) || azs.length !== 2 || !azs.every((az) => typeof az === "string"))
  )
    fail(`tts:availabilityZones must list exactly two zones, e.g. ["us-east-1a", "us-east-1b"].`);

  const cpu = gpu ? number("cpu", 4096, 1024, 196_608) : number("cpu", 4096, 256, 16_384);
  const memory = gpu ? number("memory", 12_288, 1024, 786_432) : number("memory", 8192, 512, 122_880);
  if (!gpu) checkFargateSize("cpu", "memory", cpu, memory);
  const webCpu = number("webCpu", 512, 256, 16_384);
  const webMemory = number("webMemory", 1024, 512, 122_880);
  checkFargateSize("webCpu", "webMemory", webCpu, webMemory);

  const minTasks = number("minTasks", 1, 1, 100);
  const maxTasks = number("maxTasks", 4, 1, 100);
  if (maxTasks < minTasks) fail(`tts:maxTasks (${maxTasks}) is below tts:minTasks (${minTasks}).`);

  const s3Prefix = config.get("s3Prefix") ?? "tts/";
  if (s3Prefix !== "" && !/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/$/.test(s3Prefix))
    fail(`tts:s3Prefix "${s3Prefix}" must be empty or a key prefix ending in "/" (e.g. "tts/").`);

  const logRetentionDays = config.getNumber("logRetentionDays") ?? 30;
  if (!RETENTION_DAYS.includes(logRetentionDays))
    fail(
      `tts:logRetentionDays ${logRetentionDays} is not one CloudWatch accepts (${RETENTION_DAYS.join(", ")}).`,
    );

  const inferenceEnv = config.getObject<Record<string, unknown>>("inferenceEnv") ?? {};
  for (const [key, value] of Object.entries(inferenceEnv)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key))
      fail(`tts:inferenceEnv key "${key}" is not an environment variable name.`);
    if (MANAGED_ENV.has(key))
      fail(`tts:inferenceEnv may not set ${key}: the stack sets it (see docs/deploy.md).`);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean")
      fail(`tts:inferenceEnv.${key} must be a string, number or boolean.`);
  }

  const webHosting = config.get<WebHosting>("webHosting", { allowedValues: ["amplify", "ecs"] }) ?? "ecs";
  const githubRepo = config.require("githubRepo");
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(githubRepo))
    fail(`tts:githubRepo "${githubRepo}" must be owner/name, e.g. my-org/chatterbox-tts.`);
  const alarmEmail = config.get("alarmEmail");
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail))
    fail(`tts:alarmEmail "${alarmEmail}" is not an email address.`);

  const apiKeysValue = config.get("apiKeys");
  if (apiKeysValue !== undefined) checkApiKeys(apiKeysValue);

  const secrets: StackSecrets = {
    sessionSecret: requiredSecret("sessionSecret", 32),
    metricsKey: requiredSecret("metricsKey", 16),
    apiKeys: optionalSecret("apiKeys", 16),
    sitePassword: optionalSecret("sitePassword", 8),
    hfToken: optionalSecret("hfToken", 1),
    githubAccessToken:
      webHosting === "amplify"
        ? requiredSecret("githubAccessToken", 1)
        : optionalSecret("githubAccessToken", 1),
  };
  if (/[,:\s]/.test(config.get("metricsKey") ?? ""))
    fail(`tts:metricsKey may not contain commas, colons or spaces (value hidden).`);

  return {
    stack,
    prefix: `tts-${stack}`,
    zoneName,
    webDomain,
    apiDomain,
    availabilityZones: azs as [string, string] | undefined,
    taskSubnets,
    imageTag: config.get("imageTag", { pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/ }) ?? "latest",
    gpu,
    gpuInstanceType,
    cpu,
    memory,
    minTasks,
    maxTasks,
    targetJobsPerTask: number("targetJobsPerTask", 2, 1, 1000),
    targetCpuPercent: number("targetCpuPercent", 70, 10, 95),
    healthCheckGraceSeconds: number("healthCheckGraceSeconds", 600, 0, 7200),
    drainTimeoutSeconds: number("drainTimeoutSeconds", 90, 5, MAX_DRAIN_SECONDS),
    albIdleTimeoutSeconds: number("albIdleTimeoutSeconds", 600, 60, 4000),
    tlsPolicy:
      config.get("tlsPolicy", { pattern: /^ELBSecurityPolicy-TLS13-/ }) ??
      "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    audioTtlSeconds: number("audioTtlSeconds", 3600, 1, 7 * 24 * 3600),
    s3Prefix,
    bucketVersioning: config.getBoolean("bucketVersioning") ?? false,
    model: config.get("model", { allowedValues: ["turbo", "english"] }) ?? "turbo",
    dtype: config.get("dtype", { allowedValues: ["fp32", "fp16", "q8", "q4", "q4f16"] }) ?? "q4",
    inferenceEnv: Object.fromEntries(
      Object.entries(inferenceEnv).map(([key, value]) => [key, String(value)]),
    ),
    logRetentionDays,
    alarmEmail,
    alarm5xxCount: number("alarm5xxCount", 10, 1, 1_000_000),
    alarmLatencyP99Seconds: number("alarmLatencyP99Seconds", 5, 1, 4000),
    alarmQueueDepth: number("alarmQueueDepth", 8, 1, 10_000),
    collectorImage:
      config.get("collectorImage") ?? "public.ecr.aws/aws-observability/aws-otel-collector:v0.45.1",
    webHosting,
    webCpu,
    webMemory,
    webTasks: number("webTasks", 1, 1, 100),
    githubRepo,
    githubOidcProviderArn: config.get("githubOidcProviderArn", {
      pattern: /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\//,
    }),
    forceDestroy: config.getBoolean("forceDestroy") ?? false,
    secrets,
  };
}
