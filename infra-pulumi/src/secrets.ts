import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { StackSecrets } from "./config.ts";

/** An ECS container's `secrets` entry: the variable and the JSON key of a Secrets Manager secret it comes from. */
export interface EcsSecret {
  name: string;
  valueFrom: pulumi.Output<string>;
}

/** One JSON secret in Secrets Manager: each key becomes one variable of whoever reads it. */
class JsonSecret {
  readonly secret: aws.secretsmanager.Secret;
  readonly keys: string[];

  constructor(
    name: string,
    args: {
      description: string;
      values: Record<string, pulumi.Output<string> | undefined>;
      recoveryDays: number;
    },
    opts: pulumi.CustomResourceOptions,
  ) {
    const values = Object.fromEntries(
      Object.entries(args.values).filter(
        (entry): entry is [string, pulumi.Output<string>] => entry[1] !== undefined,
      ),
    );
    this.keys = Object.keys(values);
    this.secret = new aws.secretsmanager.Secret(
      name,
      { description: args.description, recoveryWindowInDays: args.recoveryDays },
      opts,
    );
    new aws.secretsmanager.SecretVersion(
      name,
      { secretId: this.secret.id, secretString: pulumi.secret(pulumi.jsonStringify(values)) },
      opts,
    );
  }

  /** `secrets` entries for an ECS container (`<arn>:<json key>::`), one per key asked for that the secret holds. */
  ecsSecrets(...keys: string[]): EcsSecret[] {
    return keys
      .filter((key) => this.keys.includes(key))
      .map((key) => ({ name: key, valueFrom: pulumi.interpolate`${this.secret.arn}:${key}::` }));
  }
}

export interface AppSecretsArgs {
  prefix: string;
  secrets: StackSecrets;
  /** Delete at once on `pulumi destroy` instead of after a 7-day recovery window. */
  forceDestroy: boolean;
}

/**
 * The stack's secrets, never in a task definition, an image or a build: one JSON secret for the inference node
 * (API_KEYS with the scraper's `metrics:` key added, TTS_SESSION_SECRET, METRICS_KEY, HF_TOKEN) and one for the web
 * server (TTS_SESSION_SECRET, SITE_PASSWORD), so each reader can read only what it needs.
 */
export class AppSecrets extends pulumi.ComponentResource {
  readonly node: JsonSecret;
  readonly web: JsonSecret;

  constructor(name: string, args: AppSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:secrets:AppSecrets", name, {}, opts);
    const parent = { parent: this };
    const { secrets, prefix } = args;
    const recoveryDays = args.forceDestroy ? 0 : 7;
    const metricsEntry = pulumi.interpolate`metrics:${secrets.metricsKey}`;
    const apiKeys = secrets.apiKeys ? pulumi.interpolate`${secrets.apiKeys},${metricsEntry}` : metricsEntry;

    this.node = new JsonSecret(
      `${prefix}-node-secrets`,
      {
        description: "Inference node: API_KEYS, TTS_SESSION_SECRET, METRICS_KEY, HF_TOKEN",
        values: {
          API_KEYS: apiKeys,
          TTS_SESSION_SECRET: secrets.sessionSecret,
          METRICS_KEY: secrets.metricsKey,
          HF_TOKEN: secrets.hfToken,
        },
        recoveryDays,
      },
      parent,
    );
    this.web = new JsonSecret(
      `${prefix}-web-secrets`,
      {
        description:
          "Web server: TTS_SESSION_SECRET, SITE_PASSWORD (read at runtime through TTS_SECRETS_ARN)",
        values: { TTS_SESSION_SECRET: secrets.sessionSecret, SITE_PASSWORD: secrets.sitePassword },
        recoveryDays,
      },
      parent,
    );
    this.registerOutputs({ nodeSecretArn: this.node.secret.arn, webSecretArn: this.web.secret.arn });
  }
}
