// Pulumi mocks shared by the vitest harness and the plain-Node load check: what AWS would answer, and config.
import type * as pulumi from "@pulumi/pulumi";

export const ACCOUNT = "123456789012";
export const REGION = "eu-west-1";
export const ZONE_ID = "Z0TESTZONE";
export const SESSION_SECRET = "session-secret-0123456789-abcdefghijklmnop";
export const METRICS_KEY = "metrics-key-0123456789ab";
export const API_KEYS = "ci:client-key-0123456789abcdef";

/** The smallest valid stack: what `pulumi config set` must give before the first `pulumi up`. */
export const BASE_CONFIG: Record<string, string> = {
  "tts:zoneName": "example.com",
  "tts:webDomain": "tts.example.com",
  "tts:githubRepo": "acme/chatterbox-tts",
  "tts:sessionSecret": SESSION_SECRET,
  "tts:metricsKey": METRICS_KEY,
};
export const SECRET_KEYS = [
  "sessionSecret",
  "metricsKey",
  "apiKeys",
  "sitePassword",
  "hfToken",
  "githubAccessToken",
];

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

export function isSecret(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG
  );
}

export function unwrap(value: unknown): unknown {
  if (isSecret(value)) return unwrap(value.value);
  if (Array.isArray(value)) return value.map(unwrap);
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, unwrap(inner)]));
  return value;
}

/** IDs shaped like AWS's, so two resources sharing a logical name stay apart. */
const ID_PREFIXES: Record<string, string> = {
  "aws:ec2/securityGroup:SecurityGroup": "sg",
  "aws:ec2/subnet:Subnet": "subnet",
  "aws:efs/fileSystem:FileSystem": "fs",
  "aws:efs/accessPoint:AccessPoint": "fsap",
};

export function idOf(type: string, name: string): string {
  const prefix = ID_PREFIXES[type];
  return prefix ? `${prefix}-${name}` : `${name}-id`;
}

/** What AWS would report back for a new resource, where the program reads it. */
export function stateOf(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  const arn = `arn:aws:${type.split(":")[1]?.split("/")[0]}:${REGION}:${ACCOUNT}:${name}`;
  const state: Record<string, unknown> = { ...inputs, arn, name: inputs.name ?? `${name}-physical` };
  switch (type) {
    case "aws:s3/bucket:Bucket":
      return { ...state, bucket: `${name}-bucket`, arn: `arn:aws:s3:::${name}-bucket` };
    case "aws:ecr/repository:Repository":
      return { ...state, repositoryUrl: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${String(inputs.name)}` };
    case "aws:acm/certificate:Certificate": {
      const domains = [
        inputs.domainName,
        ...((inputs.subjectAlternativeNames as string[] | undefined) ?? []),
      ];
      return {
        ...state,
        domainValidationOptions: domains.map((domain) => ({
          domainName: domain,
          resourceRecordName: `_check.${String(domain)}.`,
          resourceRecordType: "CNAME",
          resourceRecordValue: "_answer.acm-validations.aws.",
        })),
      };
    }
    case "aws:lb/loadBalancer:LoadBalancer":
      return {
        ...state,
        dnsName: `${name}.${REGION}.elb.amazonaws.com`,
        zoneId: "ZALBZONE",
        arnSuffix: `app/${name}/1`,
      };
    case "aws:lb/targetGroup:TargetGroup":
      return { ...state, arnSuffix: `targetgroup/${name}/1` };
    case "aws:cloudfront/distribution:Distribution":
      return { ...state, domainName: "d111111abcdef8.cloudfront.net", hostedZoneId: "Z2FDTNDATAQYW2" };
    case "aws:route53/record:Record":
      return { ...state, fqdn: String(inputs.name) };
    case "aws:secretsmanager/secret:Secret":
      return { ...state, arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf` };
    default:
      return state;
  }
}

export function call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
  const inputs = args.inputs as Record<string, unknown>;
  switch (args.token) {
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return {
        names: [`${REGION}a`, `${REGION}b`, `${REGION}c`],
        zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3"],
      };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/ops`, userId: "AIDATEST" };
    case "aws:index/getRegion:getRegion":
      return { region: REGION, name: REGION, id: REGION, description: "Europe (Ireland)", endpoint: "" };
    case "aws:index/getPartition:getPartition":
      return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws", reverseDnsPrefix: "com.amazonaws" };
    case "aws:route53/getZone:getZone":
      return { zoneId: ZONE_ID, id: ZONE_ID, name: inputs.name };
    case "aws:ssm/getParameter:getParameter":
      return { name: inputs.name, value: "ami-0123456789abcdef0", type: "String" };
    default:
      throw new Error(`unexpected invoke ${args.token}`);
  }
}
