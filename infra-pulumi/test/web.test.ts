// The web app: on ECS behind CloudFront (default), or on Amplify Hosting (tts:webHosting: amplify).
import { createHmac } from "node:crypto";

import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";

import { amplifyBuildSpec, repositoryToolchain } from "../src/amplify.ts";
import {
  BASE_CONFIG,
  containers,
  env,
  runProgram,
  SESSION_SECRET,
  statements,
  type Program,
} from "./harness.ts";

const AMPLIFY_TYPES = [
  "aws:amplify/app:App",
  "aws:amplify/branch:Branch",
  "aws:amplify/domainAssociation:DomainAssociation",
];
const ECS_WEB_TYPES = ["aws:cloudfront/distribution:Distribution", "aws:lb/listenerRule:ListenerRule"];

let ecs: Program;
let amplify: Program;
beforeAll(async () => {
  ecs = await runProgram({ ...BASE_CONFIG, "tts:sitePassword": "open-sesame-42" });
  amplify = await runProgram({
    ...BASE_CONFIG,
    "tts:webHosting": "amplify",
    "tts:githubAccessToken": "github_pat_0123456789",
  });
});

describe("webHosting: ecs (default)", () => {
  test("the standalone image runs on Fargate with the public API base and its secrets from Secrets Manager", () => {
    const [web] = containers(ecs.one("aws:ecs/taskDefinition:TaskDefinition", /-web$/));
    expect(env(web!)).toEqual({
      PORT: "3000",
      HOSTNAME: "0.0.0.0",
      NEXT_PUBLIC_TTS_API_BASE: "https://api.tts.example.com",
      TRUSTED_PROXY_HOPS: "2",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318",
      OTEL_SERVICE_NAME: "tts-test-web",
    });
    const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tts-test-web-secrets-AbCdEf";
    expect(web!.secrets).toEqual([
      { name: "TTS_SESSION_SECRET", valueFrom: `${arn}:TTS_SESSION_SECRET::` },
      { name: "SITE_PASSWORD", valueFrom: `${arn}:SITE_PASSWORD::` },
    ]);
    expect(ecs.one("aws:lb/targetGroup:TargetGroup", /-web$/).inputs).toMatchObject({
      port: 3000,
      healthCheck: { path: "/healthz" },
    });
    for (const type of AMPLIFY_TYPES) expect(ecs.ofType(type), type).toEqual([]);
  });

  test("the web server's spans go to a collector beside it that forwards traces (only) to X-Ray", () => {
    const task = ecs.one("aws:ecs/taskDefinition:TaskDefinition", /-web$/);
    const [web, collector] = containers(task);
    expect(web!.dependsOn).toEqual([{ containerName: "collector", condition: "START" }]);
    expect(collector).toMatchObject({ name: "collector", essential: false });
    const config = JSON.parse(env(collector!).AOT_CONFIG_CONTENT!) as {
      receivers: Record<string, unknown>;
      exporters: Record<string, unknown>;
    };
    expect(Object.keys(config.receivers)).toEqual(["otlp"]);
    expect(config.exporters).toEqual({ awsxray: { region: "eu-west-1" } });
    // The task role may write traces and nothing else.
    const role = ecs.one("aws:iam/role:Role", /-web-task$/);
    expect(String(task.inputs.taskRoleArn)).toMatch(new RegExp(`:${role.name}$`));
    const allowed = statements(ecs.one("aws:iam/rolePolicy:RolePolicy", /-web-task$/));
    expect(allowed.flatMap((statement) => statement.Action)).toEqual(
      expect.arrayContaining(["xray:PutTraceSegments"]),
    );
    for (const statement of allowed)
      for (const action of [statement.Action].flat()) expect(action).toMatch(/^xray:/);
  });

  test("CloudFront serves the web domain from the ALB, which forwards the web host only with CloudFront's header", () => {
    const originSecret = createHmac("sha256", SESSION_SECRET).update("cloudfront-origin").digest("hex");
    const distribution = ecs.one("aws:cloudfront/distribution:Distribution");
    expect(distribution.inputs).toMatchObject({
      aliases: ["tts.example.com"],
      origins: [
        {
          domainName: "tts-test-alb.eu-west-1.elb.amazonaws.com",
          customOriginConfig: { originProtocolPolicy: "https-only" },
          customHeaders: [{ name: "X-Origin-Verify", value: originSecret }],
        },
      ],
      defaultCacheBehavior: { viewerProtocolPolicy: "redirect-to-https" },
      viewerCertificate: { minimumProtocolVersion: "TLSv1.2_2021", sslSupportMethod: "sni-only" },
    });
    expect(distribution.secretInputs).toContain("origins");
    const rules = Object.fromEntries(
      ecs.ofType("aws:lb/listenerRule:ListenerRule").map((rule) => [rule.name, rule.inputs]),
    );
    expect(rules["tts-test-web"]).toMatchObject({
      priority: 10,
      conditions: [
        { hostHeader: { values: ["tts.example.com"] } },
        { httpHeader: { httpHeaderName: "X-Origin-Verify", values: [originSecret] } },
      ],
      actions: [{ type: "forward" }],
    });
    expect(rules["tts-test-web-direct"]).toMatchObject({
      priority: 20,
      actions: [{ type: "fixed-response", fixedResponse: { statusCode: "403" } }],
    });
    // The ALB certificate also names the web domain (CloudFront's Host), the edge certificate lives in us-east-1.
    expect(ecs.one("aws:acm/certificate:Certificate", /-alb$/).inputs.subjectAlternativeNames).toEqual([
      "tts.example.com",
    ]);
    const provider = ecs.one("pulumi:providers:aws");
    expect(provider.inputs.region).toBe("us-east-1");
    const records = ecs
      .ofType("aws:route53/record:Record")
      .filter((record) => record.inputs.name === "tts.example.com");
    expect(records.map((record) => record.inputs.type).sort()).toEqual(["A", "AAAA"]);
  });

  test("api.<domain> is an alias of the ALB", () => {
    expect(ecs.one("aws:route53/record:Record", /-api$/).inputs).toMatchObject({
      zoneId: "Z0TESTZONE",
      name: "api.tts.example.com",
      type: "A",
      aliases: [
        { name: "tts-test-alb.eu-west-1.elb.amazonaws.com", zoneId: "ZALBZONE", evaluateTargetHealth: true },
      ],
    });
    expect(ecs.outputs).toMatchObject({
      apiUrl: "https://api.tts.example.com",
      webUrl: "https://tts.example.com",
    });
  });
});

describe("webHosting: amplify", () => {
  const app = () => amplify.one("aws:amplify/app:App");

  test("a WEB_COMPUTE app with the monorepo app root, the public API base and the secret's ARN, no secret values", () => {
    expect(app().inputs).toMatchObject({
      platform: "WEB_COMPUTE",
      repository: "https://github.com/acme/chatterbox-tts",
      environmentVariables: {
        AMPLIFY_MONOREPO_APP_ROOT: "apps/web",
        NEXT_PUBLIC_TTS_API_BASE: "https://api.tts.example.com",
        TTS_SECRETS_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tts-test-web-secrets-AbCdEf",
        TRUSTED_PROXY_HOPS: "1",
      },
    });
    expect(app().secretInputs).toContain("accessToken");
    const variables = JSON.stringify(app().inputs.environmentVariables);
    expect(variables).not.toContain(SESSION_SECRET);
    expect(variables).not.toMatch(/TTS_SESSION_SECRET|SITE_PASSWORD|API_KEYS/);
    for (const type of ECS_WEB_TYPES) expect(amplify.ofType(type), type).toEqual([]);
    expect(amplify.ofType("aws:ecs/service:Service").map((service) => service.inputs.name)).toEqual([
      "inference",
    ]);
  });

  test("the compute role may read the web secret and nothing else", () => {
    const role = amplify.one("aws:iam/role:Role", /-web-compute$/);
    expect(app().inputs.computeRoleArn).toBe(`arn:aws:iam:eu-west-1:123456789012:${role.name}`);
    expect(statements(role, "assumeRolePolicy")).toEqual([
      expect.objectContaining({ Principal: { Service: "amplify.amazonaws.com" }, Action: "sts:AssumeRole" }),
    ]);
    expect(statements(amplify.one("aws:iam/rolePolicy:RolePolicy", /-web-compute$/))).toEqual([
      {
        Sid: "WebSecretOnly",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tts-test-web-secrets-AbCdEf",
      },
    ]);
  });

  test("the build spec: pinned pnpm and Node.js, frozen install, Turbo builds @tts/web, artifacts from .next", () => {
    const toolchain = repositoryToolchain();
    expect(toolchain.pnpm).toMatch(/^\d+\.\d+\.\d+$/);
    const spec = parse(app().inputs.buildSpec as string) as {
      applications: {
        appRoot: string;
        frontend: { phases: Record<string, { commands: string[] }>; artifacts: { baseDirectory: string } };
      }[];
    };
    expect(app().inputs.buildSpec).toBe(amplifyBuildSpec(toolchain));
    const [application] = spec.applications;
    expect(application!.appRoot).toBe("apps/web");
    const commands = Object.values(application!.frontend.phases).flatMap((phase) => phase.commands);
    expect(commands).toEqual([
      `nvm install ${toolchain.node} && nvm use ${toolchain.node}`,
      `npm install --global pnpm@${toolchain.pnpm}`,
      "pnpm --dir ../.. install --frozen-lockfile",
      "pnpm --dir ../.. turbo run build --filter @tts/web",
    ]);
    expect(application!.frontend.artifacts.baseDirectory).toBe(".next");
  });

  test("branch main, served at the web domain", () => {
    expect(amplify.one("aws:amplify/branch:Branch").inputs).toMatchObject({
      branchName: "main",
      framework: "Next.js - SSR",
      stage: "PRODUCTION",
    });
    expect(amplify.one("aws:amplify/domainAssociation:DomainAssociation").inputs).toMatchObject({
      domainName: "tts.example.com",
      subDomains: [{ branchName: "main", prefix: "" }],
    });
    expect(amplify.one("aws:acm/certificate:Certificate").inputs.subjectAlternativeNames ?? []).toEqual([]);
    expect(amplify.outputs).toMatchObject({
      webUrl: "https://tts.example.com",
      amplifyAppId: "tts-test-web-id",
    });
  });
});
