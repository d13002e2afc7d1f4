import { readFileSync } from "node:fs";

import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { policyDocument, serviceRole, type AwsContext } from "./iam.ts";

/** The web app inside the monorepo: Amplify's app root, relative to the repository root. */
export const WEB_APP_ROOT = "apps/web";

/** The pnpm and Node.js versions the repository pins (root package.json: packageManager, quickstart.node). */
export function repositoryToolchain(packageJson = new URL("../../package.json", import.meta.url)): {
  pnpm: string;
  node: string;
} {
  const manifest = JSON.parse(readFileSync(packageJson, "utf8")) as {
    packageManager?: string;
    quickstart?: { node?: string };
  };
  const pnpm = /^pnpm@(\d+\.\d+\.\d+)/.exec(manifest.packageManager ?? "")?.[1];
  const node = manifest.quickstart?.node;
  if (!pnpm || !node)
    throw new Error("The root package.json pins no pnpm (packageManager) or Node.js (quickstart.node).");
  return { pnpm, node };
}

/**
 * Amplify's build spec for the web app in this pnpm + Turborepo monorepo: the pinned Node.js and pnpm, a frozen
 * install from the repository root, then Turbo builds @tts/web and what it depends on. Runs in apps/web (appRoot).
 */
export function amplifyBuildSpec(toolchain: { pnpm: string; node: string }): string {
  return [
    "version: 1",
    "applications:",
    `  - appRoot: ${WEB_APP_ROOT}`,
    "    frontend:",
    "      phases:",
    "        preBuild:",
    "          commands:",
    `            - nvm install ${toolchain.node} && nvm use ${toolchain.node}`,
    `            - npm install --global pnpm@${toolchain.pnpm}`,
    "            - pnpm --dir ../.. install --frozen-lockfile",
    "        build:",
    "          commands:",
    "            - pnpm --dir ../.. turbo run build --filter @tts/web",
    "      artifacts:",
    "        baseDirectory: .next",
    "        files:",
    "          - '**/*'",
    "      cache:",
    "        paths:",
    "          - .next/cache/**/*",
    "",
  ].join("\n");
}

export interface AmplifyWebArgs {
  prefix: string;
  ctx: AwsContext;
  githubRepo: string;
  /** Required for webHosting=amplify (the stack configuration checks it). */
  accessToken?: pulumi.Output<string>;
  /** The apex of the custom domain: the branch is served at its root. */
  webDomain: string;
  apiUrl: string;
  /** The web server's JSON secret (TTS_SESSION_SECRET, SITE_PASSWORD), read at runtime through the compute role. */
  webSecretArn: pulumi.Output<string>;
  branch: string;
}

/**
 * The web app on Amplify Hosting (WEB_COMPUTE: Next.js SSR), built from the repository's main branch. Secrets are
 * never build variables: the server reads TTS_SECRETS_ARN at runtime with the app's compute role, which may read
 * that one secret and nothing else.
 */
export class AmplifyWeb extends pulumi.ComponentResource {
  readonly app: aws.amplify.App;
  readonly computeRole: aws.iam.Role;
  readonly url: string;

  constructor(name: string, args: AmplifyWebArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:web:AmplifyWeb", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    this.computeRole = serviceRole(
      `${prefix}-web-compute`,
      { service: "amplify.amazonaws.com", description: "Next.js server on Amplify: read the web secret" },
      parent,
    );
    new aws.iam.RolePolicy(
      `${prefix}-web-compute`,
      {
        role: this.computeRole.id,
        policy: policyDocument([
          {
            Sid: "WebSecretOnly",
            Effect: "Allow",
            Action: "secretsmanager:GetSecretValue",
            Resource: args.webSecretArn,
          },
        ]),
      },
      parent,
    );

    // Builds and SSR logs: Amplify writes them to CloudWatch under /aws/amplify/ with this role.
    const serviceRoleForBuilds = serviceRole(
      `${prefix}-web-service`,
      { service: "amplify.amazonaws.com", description: "Amplify builds and SSR logging for the web app" },
      parent,
    );
    new aws.iam.RolePolicy(
      `${prefix}-web-service`,
      {
        role: serviceRoleForBuilds.id,
        policy: policyDocument([
          {
            Sid: "AmplifyLogs",
            Effect: "Allow",
            Action: [
              "logs:CreateLogGroup",
              "logs:CreateLogStream",
              "logs:PutLogEvents",
              "logs:DescribeLogGroups",
            ],
            Resource: pulumi.interpolate`arn:${args.ctx.partition}:logs:${args.ctx.region}:${args.ctx.accountId}:log-group:/aws/amplify/*`,
          },
        ]),
      },
      parent,
    );

    this.app = new aws.amplify.App(
      `${prefix}-web`,
      {
        name: `${prefix}-web`,
        platform: "WEB_COMPUTE",
        repository: `https://github.com/${args.githubRepo}`,
        accessToken: args.accessToken,
        buildSpec: amplifyBuildSpec(repositoryToolchain()),
        computeRoleArn: this.computeRole.arn,
        iamServiceRoleArn: serviceRoleForBuilds.arn,
        environmentVariables: {
          AMPLIFY_MONOREPO_APP_ROOT: WEB_APP_ROOT,
          NEXT_PUBLIC_TTS_API_BASE: args.apiUrl,
          TTS_SECRETS_ARN: args.webSecretArn,
          // Amplify's CDN appends the client address to X-Forwarded-For.
          TRUSTED_PROXY_HOPS: "1",
        },
      },
      parent,
    );
    const branch = new aws.amplify.Branch(
      `${prefix}-web-${args.branch}`,
      {
        appId: this.app.id,
        branchName: args.branch,
        framework: "Next.js - SSR",
        stage: "PRODUCTION",
        enableAutoBuild: true,
      },
      parent,
    );
    // Amplify writes the records (and its certificate's validation) into the Route 53 zone of this account.
    new aws.amplify.DomainAssociation(
      `${prefix}-web`,
      {
        appId: this.app.id,
        domainName: args.webDomain,
        subDomains: [{ branchName: branch.branchName, prefix: "" }],
        waitForVerification: false,
      },
      parent,
    );
    this.url = `https://${args.webDomain}`;
    this.registerOutputs({ appId: this.app.id });
  }
}
