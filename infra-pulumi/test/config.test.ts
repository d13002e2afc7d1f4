// A bad stack setting stops `pulumi preview` before anything is created, with a message that says what to change
// and never prints a secret.
import { describe, expect, test } from "vitest";

import { BASE_CONFIG, runProgram, SESSION_SECRET } from "./harness.ts";

const rejects = (config: Record<string, string>, stack?: string) => expect(runProgram(config, stack)).rejects;

describe("stack configuration", () => {
  test("the stack name is short and lowercase (it names every resource)", async () => {
    await rejects(BASE_CONFIG, "Production_EU").toThrow('the stack name "Production_EU" must be lowercase');
    await rejects(BASE_CONFIG, "a-much-too-long-stack-name").toThrow("at most 16 characters");
  });

  test("the hosted zone and the repository are required", async () => {
    const { "tts:zoneName": _zone, ...noZone } = BASE_CONFIG;
    await rejects(noZone).toThrow("tts:zoneName is required");
    const { "tts:githubRepo": _repo, ...noRepo } = BASE_CONFIG;
    await rejects(noRepo).toThrow("tts:githubRepo");
    await rejects({ ...BASE_CONFIG, "tts:githubRepo": "not a repo" }).toThrow("must be owner/name");
  });

  test("domains must lie in the hosted zone and differ", async () => {
    await rejects({ ...BASE_CONFIG, "tts:webDomain": "tts.example.org" }).toThrow(
      'tts:webDomain "tts.example.org" is not inside the hosted zone tts:zoneName "example.com"',
    );
    await rejects({ ...BASE_CONFIG, "tts:apiDomain": "tts.example.com" }).toThrow("must differ");
  });

  test("secrets are required, checked for length, and never printed", async () => {
    const { "tts:sessionSecret": _secret, ...noSecret } = BASE_CONFIG;
    await rejects(noSecret).toThrow("tts:sessionSecret is required; set it with `pulumi config set --secret");
    const short = "too-short-secret";
    const message = await runProgram({ ...BASE_CONFIG, "tts:sessionSecret": short }).then(
      () => "",
      (caught: Error) => caught.message,
    );
    expect(message).toContain("tts:sessionSecret needs at least 32 characters (value hidden)");
    expect(message).not.toContain(short);
    await rejects({ ...BASE_CONFIG, "tts:apiKeys": "ci:short" }).toThrow(
      "every key in tts:apiKeys needs at least 16 characters (value hidden)",
    );
    await rejects({ ...BASE_CONFIG, "tts:apiKeys": `metrics:${SESSION_SECRET}` }).toThrow(
      'the key name "metrics"',
    );
  });

  test("GPU tasks need private subnets; instance types are NVIDIA x86 ones", async () => {
    await rejects({ ...BASE_CONFIG, "tts:gpu": "true", "tts:taskSubnets": "public" }).toThrow(
      'tts:gpu needs tts:taskSubnets "private"',
    );
    await rejects({ ...BASE_CONFIG, "tts:gpu": "true", "tts:gpuInstanceType": "g5g.xlarge" }).toThrow(
      "not an x86 NVIDIA instance type",
    );
  });

  test("the drain deadline fits Fargate's stop timeout, the idle timeout the ALB's range", async () => {
    await rejects({ ...BASE_CONFIG, "tts:drainTimeoutSeconds": "110" }).toThrow(
      "tts:drainTimeoutSeconds is 110; expected a whole number from 5 to 105",
    );
    await rejects({ ...BASE_CONFIG, "tts:albIdleTimeoutSeconds": "5000" }).toThrow("from 60 to 4000");
  });

  test("task sizes are Fargate sizes; task counts are ordered", async () => {
    await rejects({ ...BASE_CONFIG, "tts:cpu": "4096", "tts:memory": "4096" }).toThrow(
      "tts:memory 4096 does not fit tts:cpu 4096 on Fargate",
    );
    await rejects({ ...BASE_CONFIG, "tts:minTasks": "3", "tts:maxTasks": "2" }).toThrow("below tts:minTasks");
  });

  test("Amplify hosting needs a GitHub token; extra node settings may not override the stack's own", async () => {
    await rejects({ ...BASE_CONFIG, "tts:webHosting": "amplify" }).toThrow(
      "tts:githubAccessToken is required",
    );
    await rejects({ ...BASE_CONFIG, "tts:webHosting": "vercel" }).toThrow("not a legal enum value");
    await rejects({ ...BASE_CONFIG, "tts:inferenceEnv": JSON.stringify({ API_KEYS: "x" }) }).toThrow(
      "tts:inferenceEnv may not set API_KEYS",
    );
    await rejects({ ...BASE_CONFIG, "tts:s3Prefix": "/abs" }).toThrow("tts:s3Prefix");
  });
});
