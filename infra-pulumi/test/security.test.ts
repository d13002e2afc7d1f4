// The security-critical properties of the default stack, read from what the program registers under mocks.
import { beforeAll, describe, expect, test } from "vitest";

import { backstopExpiryDays } from "../src/storage.ts";
import {
  API_KEYS,
  BASE_CONFIG,
  containers,
  env,
  idOf,
  list,
  METRICS_KEY,
  runProgram,
  SESSION_SECRET,
  statements,
  type Program,
  type Registered,
} from "./harness.ts";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";

let program: Program;
beforeAll(async () => {
  program = await runProgram({
    ...BASE_CONFIG,
    "tts:apiKeys": API_KEYS,
    "tts:hfToken": "hf_token_value_123",
  });
});

const groupId = (name: RegExp) => idOf(SECURITY_GROUP, program.one(SECURITY_GROUP, name).name);
const ingressInto = (securityGroupId: string) =>
  program.ofType(INGRESS).filter((rule) => rule.inputs.securityGroupId === securityGroupId);

describe("load balancer", () => {
  test("HTTPS listener carries the DNS-validated certificate and a TLS 1.3 policy", () => {
    const https = program.one("aws:lb/listener:Listener", /-https$/);
    expect(https.inputs).toMatchObject({ port: 443, protocol: "HTTPS" });
    expect(https.inputs.sslPolicy).toMatch(/^ELBSecurityPolicy-TLS13-/);
    const validation = program.one("aws:acm/certificateValidation:CertificateValidation", /-alb$/);
    const certificate = program.one("aws:acm/certificate:Certificate", /-alb$/);
    expect(https.inputs.certificateArn, "the listener must wait for the validated certificate").toBe(
      validation.inputs.certificateArn,
    );
    expect(certificate.inputs).toMatchObject({ domainName: "api.tts.example.com", validationMethod: "DNS" });
    expect(https.inputs.defaultActions).toEqual([
      expect.objectContaining({
        type: "forward",
        targetGroupArn: "arn:aws:lb:eu-west-1:123456789012:tts-test-api",
      }),
    ]);
  });

  test("HTTP listener only redirects to HTTPS (301)", () => {
    const http = program.one("aws:lb/listener:Listener", /-http$/);
    expect(http.inputs).toMatchObject({ port: 80, protocol: "HTTP" });
    expect(http.inputs.defaultActions, "port 80 must redirect to HTTPS with a 301").toEqual([
      { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } },
    ]);
  });

  test("the ALB is open on 80 and 443 and nothing else", () => {
    const rules = ingressInto(groupId(/-alb$/));
    expect(
      rules.map((rule) => [rule.inputs.fromPort, rule.inputs.toPort, rule.inputs.cidrIpv4]).sort(),
    ).toEqual([
      [443, 443, "0.0.0.0/0"],
      [80, 80, "0.0.0.0/0"],
    ]);
  });
});

describe("network access", () => {
  test("the inference port is reachable from the ALB's security group (and the other tasks) only", () => {
    const tasks = groupId(/-inference$/);
    const rules = ingressInto(tasks).map((rule) => rule.inputs);
    for (const rule of rules) {
      expect(rule.cidrIpv4, "no address range may reach the tasks directly").toBeUndefined();
      expect(rule.cidrIpv6, "no address range may reach the tasks directly").toBeUndefined();
      expect(rule, "task ingress is the node's port, from a security group").toMatchObject({
        ipProtocol: "tcp",
        fromPort: 7860,
        toPort: 7860,
      });
    }
    expect(
      rules.map((rule) => rule.referencedSecurityGroupId),
      "task ingress must come from the ALB's security group (and the tasks' own, for the live audio relay)",
    ).toEqual([groupId(/-alb$/), tasks]);
  });

  test("no ingress rule from 0.0.0.0/0 except into the ALB", () => {
    const open = program
      .ofType(INGRESS)
      .filter((rule) => rule.inputs.cidrIpv4 === "0.0.0.0/0" || rule.inputs.cidrIpv6 === "::/0")
      .map((rule) => rule.inputs.securityGroupId);
    expect(new Set(open), "only the ALB may be open to the internet").toEqual(new Set([groupId(/-alb$/)]));
    for (const group of program.ofType(SECURITY_GROUP))
      expect(group.inputs.ingress ?? [], `${group.name} has no inline rules`).toEqual([]);
  });

  test("the web tasks take the Next.js port from the ALB only", () => {
    const rules = ingressInto(groupId(/-web$/));
    expect(rules.map((rule) => rule.inputs)).toEqual([
      expect.objectContaining({ referencedSecurityGroupId: groupId(/-alb$/), fromPort: 3000, toPort: 3000 }),
    ]);
  });
});

describe("storage", () => {
  test("the bucket blocks every kind of public access", () => {
    const block = program.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    expect(block.inputs, "all four public-access blocks must be on").toMatchObject({
      bucket: `${program.one("aws:s3/bucket:Bucket").name}-id`,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(program.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule).toEqual({
      objectOwnership: "BucketOwnerEnforced",
    });
  });

  test("objects are encrypted by default (SSE-KMS with a bucket key)", () => {
    const encryption = program.one(
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    );
    expect(encryption.inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true },
    ]);
  });

  test("the bucket policy refuses plain HTTP", () => {
    const [statement] = statements(program.one("aws:s3/bucketPolicy:BucketPolicy"));
    expect(statement).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    expect(list(statement!.Resource)).toHaveLength(2);
  });

  test("lifecycle: audio and job records expire a day after the TTL rounded up; voices never; uploads are aborted", () => {
    const rules = program.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs
      .rules as Record<string, unknown>[];
    expect(backstopExpiryDays(3600)).toBe(2);
    expect(backstopExpiryDays(86_400)).toBe(2);
    expect(backstopExpiryDays(86_401)).toBe(3);
    expect(rules).toEqual([
      expect.objectContaining({
        filter: { prefix: "tts/audio/" },
        expiration: { days: 2 },
        status: "Enabled",
      }),
      expect.objectContaining({
        filter: { prefix: "tts/jobs/" },
        expiration: { days: 2 },
        status: "Enabled",
      }),
      expect.objectContaining({
        filter: { prefix: "tts/" },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      }),
    ]);
    expect(JSON.stringify(rules)).not.toContain("voices");
  });
});

describe("task role", () => {
  const taskPolicy = () => statements(program.one("aws:iam/rolePolicy:RolePolicy", /-inference-task$/));

  test("S3 access is scoped to the bucket and the deployment's prefix", () => {
    const bucketArn = "arn:aws:s3:::tts-test-data-bucket";
    const s3 = taskPolicy().filter((statement) =>
      list(statement.Action).some((action) => action.startsWith("s3:")),
    );
    expect(s3.length).toBeGreaterThan(0);
    for (const statement of s3) {
      for (const resource of list(statement.Resource))
        expect(resource, `S3 statement ${statement.Sid} must name the bucket, never "*"`).toMatch(
          new RegExp(`^${bucketArn}(/tts/\\*)?$`),
        );
      for (const action of list(statement.Action)) expect(action, "no S3 wildcards").not.toContain("*");
    }
    const objects = s3.find((statement) => statement.Sid === "ObjectsUnderPrefix")!;
    expect(list(objects.Action).sort()).toEqual(["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]);
    expect(objects.Resource).toBe(`${bucketArn}/tts/*`);
    const listing = s3.find((statement) => statement.Sid === "ListPrefix")!;
    expect(listing).toMatchObject({
      Action: "s3:ListBucket",
      Resource: bucketArn,
      Condition: { StringLike: { "s3:prefix": ["tts/*"] } },
    });
  });

  test("nothing account-wide but X-Ray's resource-less calls", () => {
    const accountWide = taskPolicy()
      .filter((statement) => list(statement.Resource).includes("*"))
      .flatMap((statement) => list(statement.Action))
      .filter((action) => !action.startsWith("xray:"));
    expect(accountWide, 'actions the task role may take on "*"').toEqual([]);
  });

  test("task scale-in protection through the agent endpoint: the task role may set it on this cluster's tasks", () => {
    expect(taskPolicy()).toContainEqual(
      expect.objectContaining({
        Action: ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
        Resource: "arn:aws:ecs:eu-west-1:123456789012:task/tts-test/*",
      }),
    );
  });

  test("task roles can only be assumed by ECS tasks of this account", () => {
    for (const role of program
      .ofType("aws:iam/role:Role")
      .filter((candidate) => /-(inference|web)-(task|exec)$/.test(candidate.name))) {
      const [trust] = statements(role, "assumeRolePolicy");
      expect(trust).toMatchObject({
        Principal: { Service: "ecs-tasks.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } },
      });
    }
  });
});

describe("secrets", () => {
  const taskDefinitions = () => program.ofType("aws:ecs/taskDefinition:TaskDefinition");

  test("the node gets API_KEYS, TTS_SESSION_SECRET and HF_TOKEN as ECS secrets, the collector METRICS_KEY", () => {
    const [node, collector] = containers(program.one("aws:ecs/taskDefinition:TaskDefinition", /-inference$/));
    const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tts-test-node-secrets-AbCdEf";
    expect(node!.secrets).toEqual([
      { name: "API_KEYS", valueFrom: `${arn}:API_KEYS::` },
      { name: "TTS_SESSION_SECRET", valueFrom: `${arn}:TTS_SESSION_SECRET::` },
      { name: "HF_TOKEN", valueFrom: `${arn}:HF_TOKEN::` },
    ]);
    expect(collector!.secrets).toEqual([{ name: "METRICS_KEY", valueFrom: `${arn}:METRICS_KEY::` }]);
  });

  test("no secret is plain environment, and no secret value is anywhere in a task definition", () => {
    for (const taskDefinition of taskDefinitions()) {
      for (const container of containers(taskDefinition)) {
        const names = Object.keys(env(container));
        for (const secret of ["API_KEYS", "TTS_SESSION_SECRET", "METRICS_KEY", "HF_TOKEN", "SITE_PASSWORD"])
          expect(names, `${container.name} must not get ${secret} as plain environment`).not.toContain(
            secret,
          );
      }
      const text = JSON.stringify(taskDefinition.inputs);
      for (const value of [SESSION_SECRET, METRICS_KEY, API_KEYS, "hf_token_value_123"])
        expect(text, `${taskDefinition.name} leaks a secret value`).not.toContain(value);
    }
  });

  test("the secret values live in Secrets Manager, as Pulumi secrets", () => {
    const node = program.one("aws:secretsmanager/secretVersion:SecretVersion", /-node-secrets$/);
    expect(node.secretInputs).toContain("secretString");
    expect(JSON.parse(node.inputs.secretString as string)).toEqual({
      API_KEYS: `${API_KEYS},metrics:${METRICS_KEY}`,
      TTS_SESSION_SECRET: SESSION_SECRET,
      METRICS_KEY,
      HF_TOKEN: "hf_token_value_123",
    });
    const web = program.one("aws:secretsmanager/secretVersion:SecretVersion", /-web-secrets$/);
    expect(JSON.parse(web.inputs.secretString as string)).toEqual({ TTS_SESSION_SECRET: SESSION_SECRET });
  });

  test("each execution role may read exactly its own secret", () => {
    const readers: [RegExp, string][] = [
      [/-inference-exec-secrets$/, "tts-test-node-secrets"],
      [/-web-exec-secrets$/, "tts-test-web-secrets"],
    ];
    for (const [policy, secret] of readers) {
      expect(statements(program.one("aws:iam/rolePolicy:RolePolicy", policy))).toEqual([
        expect.objectContaining({
          Action: "secretsmanager:GetSecretValue",
          Resource: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secret}-AbCdEf`,
        }),
      ]);
    }
  });
});

describe("model cache", () => {
  test("EFS is encrypted, mounted in both AZs through an access point with IAM, and NFS only from the tasks", () => {
    expect(program.one("aws:efs/fileSystem:FileSystem").inputs.encrypted).toBe(true);
    const mounts = program.ofType("aws:efs/mountTarget:MountTarget");
    expect(mounts.map((mount) => mount.inputs.subnetId)).toEqual([
      "subnet-tts-test-public-0",
      "subnet-tts-test-public-1",
    ]);
    expect(ingressInto(groupId(/-models$/)).map((rule) => rule.inputs)).toEqual([
      expect.objectContaining({
        referencedSecurityGroupId: groupId(/-inference$/),
        fromPort: 2049,
        toPort: 2049,
      }),
    ]);
    const taskDefinition = program.one("aws:ecs/taskDefinition:TaskDefinition", /-inference$/);
    expect(taskDefinition.inputs.volumes).toEqual([
      {
        name: "models",
        efsVolumeConfiguration: {
          fileSystemId: "fs-tts-test-models",
          transitEncryption: "ENABLED",
          authorizationConfig: { accessPointId: "fsap-tts-test-models", iam: "ENABLED" },
        },
      },
    ]);
    const [node] = containers(taskDefinition);
    expect(node!.mountPoints).toEqual([
      expect.objectContaining({ sourceVolume: "models", containerPath: "/var/lib/tts/models" }),
    ]);
    expect(env(node!).TTS_CACHE_DIR).toBe("/var/lib/tts/models");
    const policy = statements(program.one("aws:efs/fileSystemPolicy:FileSystemPolicy"));
    expect(policy).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
    expect(policy[0]).toMatchObject({
      Principal: { AWS: "arn:aws:iam:eu-west-1:123456789012:tts-test-inference-task" },
    });
  });
});

describe("GitHub OIDC deploy role", () => {
  const role = (): Registered => program.one("aws:iam/role:Role", /-deploy$/);

  test("only workflow runs on the main branch of the configured repository may assume it", () => {
    const trust = statements(role(), "assumeRolePolicy");
    expect(trust).toEqual([
      {
        Effect: "Allow",
        Principal: { Federated: "arn:aws:iam:eu-west-1:123456789012:tts-test-github" },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/chatterbox-tts:ref:refs/heads/main",
          },
        },
      },
    ]);
    expect(JSON.stringify(trust), "no wildcard subject").not.toMatch(/StringLike|\*/);
    expect(program.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs).toMatchObject({
      url: "https://token.actions.githubusercontent.com",
      clientIdLists: ["sts.amazonaws.com"],
    });
  });

  test("its IAM rights are limited to this stack's names", () => {
    const iam = statements(program.one("aws:iam/rolePolicy:RolePolicy", /-deploy-iam$/));
    const writes = iam.find((statement) => statement.Sid === "ThisStacksIam")!;
    expect(list(writes.Resource)).toEqual([
      "arn:aws:iam::123456789012:role/tts-test-*",
      "arn:aws:iam::123456789012:instance-profile/tts-test-*",
      "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
    ]);
  });
});
