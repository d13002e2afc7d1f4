// The GitHub Actions workflows: valid against GitHub's own workflow schema (@actions/workflow-parser, the parser
// behind the Actions language service), then the properties CI and deployment depend on.
import { readdirSync, readFileSync } from "node:fs";
import { registerHooks } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, test } from "vitest";
import { parse } from "yaml";

import { IMAGES } from "../src/containers.ts";
import { DEPLOY_BRANCH } from "../src/github-oidc.ts";

// The parser imports its schema JSON without `with { type: "json" }`, which Node's ESM loader refuses
// (actions/languageservices#387): add the attribute for that package's JSON files before loading it.
registerHooks({
  load: (url, context, nextLoad) =>
    url.includes("/@actions/workflow-parser/") && url.endsWith(".json")
      ? nextLoad(url, { ...context, importAttributes: { ...context.importAttributes, type: "json" } })
      : nextLoad(url, context),
});
const { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } =
  await import("@actions/workflow-parser");

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const workflowsDir = path.join(repoRoot, ".github/workflows");
const read = (name: string) => readFileSync(path.join(workflowsDir, name), "utf8");

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = {
  "runs-on"?: string;
  uses?: string;
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  "timeout-minutes"?: number;
  strategy?: { matrix?: { include?: Record<string, string>[] } };
  steps?: Step[];
};
type Workflow = {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string };
  jobs: Record<string, Job>;
};

/** Every schema and conversion error GitHub would report for a workflow file (empty when it is valid). */
async function schemaErrors(name: string, content: string): Promise<string[]> {
  const parsed = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((error) => error.message);
  if (errors.length > 0 || !parsed.value) return errors;
  // Conversion checks what the schema alone does not (job graph, reusable workflow calls, matrices).
  const template = await convertWorkflowTemplate(
    parsed.context,
    parsed.value,
    {
      // Reusable workflows of this repository (`uses: ./.github/workflows/ci.yml`) are read and checked too.
      getFileContent: (ref) =>
        Promise.resolve({ name: ref.path, content: readFileSync(path.join(repoRoot, ref.path), "utf8") }),
    },
    { fetchReusableWorkflowDepth: 1 },
  );
  return (template.errors ?? []).map((error) => error.Message);
}

const steps = (workflow: Workflow) => Object.values(workflow.jobs).flatMap((job) => job.steps ?? []);
const usesOf = (step: Step) => step.uses?.split("@")[0];
const needsOf = (job: Job) => (Array.isArray(job.needs) ? job.needs : job.needs ? [job.needs] : []);

describe("workflow schema (@actions/workflow-parser)", () => {
  const files = readdirSync(workflowsDir).filter((name) => /\.ya?ml$/.test(name));

  test("both workflows are there", () => {
    expect(files.sort()).toEqual(expect.arrayContaining(["ci.yml", "deploy.yml"]));
  });

  test.each(files)("%s has no schema errors", async (name) => {
    expect(await schemaErrors(`.github/workflows/${name}`, read(name))).toEqual([]);
  });

  test("the check catches a misspelled key and an unknown permission", async () => {
    const broken = read("ci.yml").replace("runs-on:", "run-on:");
    expect((await schemaErrors("ci.yml", broken)).join("\n")).toMatch(/run-on/);
    const badPermission = read("deploy.yml").replace("id-token: write", "id-token: sometimes");
    expect((await schemaErrors("deploy.yml", badPermission)).length).toBeGreaterThan(0);
  });

  test("every action is pinned to a major version", () => {
    for (const name of files)
      for (const step of steps(parse(read(name)) as Workflow))
        if (step.uses && !step.uses.startsWith("./"))
          expect(step.uses, name).toMatch(/^[\w.-]+\/[\w./-]+@v\d+$/);
  });
});

describe("ci.yml", () => {
  const ci = parse(read("ci.yml")) as Workflow;
  const job = Object.values(ci.jobs).find((candidate) =>
    candidate.steps?.some((step) => step.run === "npm test"),
  );

  test("runs the README's test command on every push and pull request", () => {
    expect(job, "a job whose step runs `npm test`").toBeDefined();
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(["push", "pull_request"]));
    // No branch or path filters: every push and every pull request.
    expect(ci.on.push ?? null).toBeNull();
    expect(ci.on.pull_request ?? null).toBeNull();
    expect(job!["runs-on"]).toBe("ubuntu-latest");
    expect(job!["timeout-minutes"]).toBeGreaterThan(0);
    expect(job!["timeout-minutes"]).toBeLessThanOrEqual(60);
    // The API compatibility test reads the previous release's packages/api from git history.
    const checkout = job!.steps!.find((step) => usesOf(step) === "actions/checkout");
    expect(checkout?.with?.["fetch-depth"]).toBe(0);
  });

  test("can only read the repository, runs one at a time per ref, and keeps the screenshots", () => {
    expect(ci.permissions).toEqual({ contents: "read" });
    for (const each of Object.values(ci.jobs)) expect(each.permissions).toBeUndefined();
    expect(ci.concurrency?.group).toContain("github.ref");
    const upload = job!.steps!.find((step) => usesOf(step) === "actions/upload-artifact");
    expect(upload?.with?.path).toBe("apps/web/test-results/screenshots");
  });

  test("can be called by the deploy workflow", () => {
    expect(Object.keys(ci.on)).toContain("workflow_call");
  });
});

describe("deploy.yml", () => {
  const text = read("deploy.yml");
  const deploy = parse(text) as Workflow;
  const jobs = Object.entries(deploy.jobs);
  const awsSteps = steps(deploy).filter((step) => usesOf(step) === "aws-actions/configure-aws-credentials");
  const jobOf = (predicate: (step: Step) => boolean) => jobs.find(([, job]) => job.steps?.some(predicate));

  test("runs on pushes to main (and by hand) only, and only on main", () => {
    expect(Object.keys(deploy.on).sort()).toEqual(["push", "workflow_dispatch"]);
    expect(deploy.on.push).toEqual({ branches: [DEPLOY_BRANCH] });
    // A manual run on another branch skips every job that touches AWS.
    for (const [, job] of jobs)
      if (job.steps?.some((step) => usesOf(step) === "aws-actions/configure-aws-credentials"))
        expect(job.if).toMatch(new RegExp(`github\\.ref == 'refs/heads/${DEPLOY_BRANCH}'`));
  });

  test("reaches AWS only through OIDC: id-token write, the role from a variable, no stored keys", () => {
    expect(deploy.permissions).toEqual({ contents: "read", "id-token": "write" });
    expect(awsSteps.length).toBeGreaterThan(0);
    for (const step of awsSteps) {
      expect(step.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
      expect(step.with).not.toHaveProperty("aws-access-key-id");
      expect(step.with).not.toHaveProperty("aws-secret-access-key");
    }
    expect(text).not.toMatch(
      /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key/i,
    );
    // Job-level permissions (the test job's) may only narrow.
    for (const [, job] of jobs) if (job.permissions) expect(job.permissions).toEqual({ contents: "read" });
  });

  test("builds nothing until the tests pass", () => {
    const [testJobId, testJob] = jobs.find(([, job]) => job.uses === "./.github/workflows/ci.yml") ?? [];
    expect(testJob, "a job that calls ci.yml").toBeDefined();
    const [, images] = jobOf((step) => usesOf(step) === "docker/build-push-action")!;
    expect(needsOf(images)).toContain(testJobId);
    const [imagesJobId] = jobOf((step) => usesOf(step) === "docker/build-push-action")!;
    const [, up] = jobOf((step) => usesOf(step) === "pulumi/actions")!;
    expect(needsOf(up)).toContain(imagesJobId);
  });

  test("builds and pushes every Dockerfile in the repository, from the root, tagged with the commit", () => {
    const apps = path.join(repoRoot, "apps");
    const dockerfiles = readdirSync(apps).flatMap((app) =>
      readdirSync(path.join(apps, app))
        .filter((file) => /^Dockerfile(\.[\w-]+)?$/.test(file) && !file.endsWith(".dockerignore"))
        .map((file) => `apps/${app}/${file}`),
    );
    expect(dockerfiles.length).toBe(3);
    const [, images] = jobOf((step) => usesOf(step) === "docker/build-push-action")!;
    const matrix = images.strategy?.matrix?.include ?? [];
    expect(matrix.map((entry) => entry.dockerfile).sort()).toEqual(dockerfiles.sort());
    // The names of the ECR repositories the Pulumi program creates (tts-<stack>/<image>).
    expect(matrix.map((entry) => entry.image).sort()).toEqual([...IMAGES].sort());
    const build = images.steps!.find((step) => usesOf(step) === "docker/build-push-action")!;
    expect(build.with).toMatchObject({ context: ".", file: "${{ matrix.dockerfile }}", push: true });
    expect(build.with?.tags).toBe(
      "${{ steps.ecr.outputs.registry }}/tts-${{ vars.PULUMI_STACK }}/${{ matrix.image }}:${{ github.sha }}",
    );
    expect(images.steps!.some((step) => usesOf(step) === "aws-actions/amazon-ecr-login")).toBe(true);
  });

  test("runs pulumi up on the infrastructure program with the commit as tts:imageTag", () => {
    const [, up] = jobOf((step) => usesOf(step) === "pulumi/actions")!;
    const upSteps = up.steps!;
    const pulumi = upSteps.find((step) => usesOf(step) === "pulumi/actions")!;
    expect(pulumi.with).toMatchObject({
      command: "up",
      "work-dir": "infra-pulumi",
      "stack-name": "${{ vars.PULUMI_STACK }}",
    });
    const configMap = parse(String(pulumi.with?.["config-map"])) as Record<
      string,
      { value: string; secret: boolean }
    >;
    expect(configMap["tts:imageTag"]).toEqual({ value: "${{ github.sha }}", secret: false });
    // A state backend: an S3 URL from a variable, or a Pulumi Cloud token from a secret.
    expect(
      pulumi.env?.PULUMI_BACKEND_URL === "${{ vars.PULUMI_BACKEND_URL }}" ||
        pulumi.env?.PULUMI_ACCESS_TOKEN === "${{ secrets.PULUMI_ACCESS_TOKEN }}",
    ).toBe(true);
    // The program's dependencies are installed first, from the lockfile.
    const install = upSteps.findIndex((step) => /pnpm install --frozen-lockfile/.test(step.run ?? ""));
    expect(install).toBeGreaterThanOrEqual(0);
    expect(install).toBeLessThan(upSteps.indexOf(pulumi));
    // And AWS credentials come before it too.
    const credentials = upSteps.findIndex((step) => usesOf(step) === "aws-actions/configure-aws-credentials");
    expect(credentials).toBeGreaterThanOrEqual(0);
    expect(credentials).toBeLessThan(upSteps.indexOf(pulumi));
  });
});
