// The project and stack files, and the way `pulumi up` loads the program.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";

import { describe, expect, test } from "vitest";
import { parse } from "yaml";

import { METRICS_KEY, runProgram, SESSION_SECRET } from "./harness.ts";

const root = new URL("../", import.meta.url);
const yamlFile = <T>(name: string) => parse(readFileSync(new URL(name, root), "utf8")) as T;

/** A stack file's settings as the CLI hands them to the program, plus the secrets set with `--secret`. */
function stackConfig(stack: string): Record<string, string> {
  const { config } = yamlFile<{ config: Record<string, unknown> }>(`Pulumi.${stack}.yaml`);
  return {
    ...Object.fromEntries(Object.entries(config).map(([key, value]) => [key, String(value)])),
    "tts:sessionSecret": SESSION_SECRET,
    "tts:metricsKey": METRICS_KEY,
  };
}

describe("project", () => {
  test("Pulumi.yaml runs the ES-module TypeScript program on Node with pnpm", () => {
    const project = yamlFile<{ name: string; runtime: { name: string; options: Record<string, unknown> } }>(
      "Pulumi.yaml",
    );
    expect(project.runtime).toEqual({
      name: "nodejs",
      options: { typescript: false, packagemanager: "pnpm" },
    });
    const manifest = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({ type: "module", main: "index.ts" });
  });

  test(
    "index.ts loads on Node's own type stripping, as `pulumi up` runs it",
    { timeout: 90_000 },
    async () => {
      const { stdout } = await promisify(execFile)(process.execPath, ["test/fixtures/load-on-node.ts"], {
        cwd: root,
        timeout: 60_000,
      });
      const summary = JSON.parse(stdout) as { resources: number; outputs: string[] };
      expect(summary.resources).toBeGreaterThan(50);
      expect(summary.outputs).toEqual(
        expect.arrayContaining([
          "apiUrl",
          "webUrl",
          "ecrRepositoryUrls",
          "clusterName",
          "serviceName",
          "bucketName",
          "deployRoleArn",
        ]),
      );
    },
  );
});

describe("docs", () => {
  test("docs/deploy.md lists every setting the program reads", () => {
    const source = readFileSync(new URL("src/config.ts", root), "utf8");
    const keys = new Set(
      [
        ...source.matchAll(
          /\b(?:get\w*|require\w*|optionalSecret|requiredSecret|number|domain)(?:<[^>]+>)?\("(\w+)"/g,
        ),
      ].map((match) => match[1]!),
    );
    expect(keys.size).toBeGreaterThan(40);
    const guide = readFileSync(new URL("../docs/deploy.md", root), "utf8");
    const missing = [...keys].filter(
      (key) =>
        !guide.includes(`| \`${key}\``) &&
        !guide.includes(`\`${key}\` / \``) &&
        !guide.includes(` / \`${key}\``),
    );
    expect(missing, "settings missing from the table in docs/deploy.md").toEqual([]);
  });
});

describe("stacks", () => {
  test("dev: small, CPU only, no NAT, deletable", async () => {
    const dev = await runProgram(stackConfig("dev"), "dev");
    expect(dev.ofType("aws:ecs/capacityProvider:CapacityProvider")).toEqual([]);
    expect(dev.ofType("aws:ec2/natGateway:NatGateway")).toEqual([]);
    expect(dev.one("aws:appautoscaling/target:Target").inputs).toMatchObject({
      minCapacity: 1,
      maxCapacity: 2,
    });
    expect(dev.one("aws:s3/bucket:Bucket").inputs.forceDestroy).toBe(true);
    expect(dev.outputs).toMatchObject({
      clusterName: "tts-dev",
      webUrl: "https://tts-dev.example.com",
      gpu: false,
    });
  });

  test("prod: more tasks, private subnets with NAT, alarms by email", async () => {
    const prod = await runProgram(stackConfig("prod"), "prod");
    const dev = stackConfig("dev");
    const target = prod.one("aws:appautoscaling/target:Target").inputs as Record<string, number>;
    expect(target.minCapacity).toBeGreaterThan(Number(dev["tts:minTasks"]));
    expect(target.maxCapacity).toBeGreaterThan(Number(dev["tts:maxTasks"]));
    expect(prod.ofType("aws:ec2/natGateway:NatGateway")).toHaveLength(2);
    expect(prod.ofType("aws:sns/topicSubscription:TopicSubscription")).toHaveLength(1);
    expect(prod.one("aws:s3/bucket:Bucket").inputs.forceDestroy).toBe(false);
    expect(prod.outputs).toMatchObject({ clusterName: "tts-prod", serviceName: "inference", gpu: false });
  });
});
