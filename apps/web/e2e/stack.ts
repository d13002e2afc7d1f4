import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Browser } from "playwright-core";

import { launchChromium } from "@tts/vitest-config/chromium";
import { freePort } from "@tts/vitest-config/net";

export { freePort };

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

export interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

function startProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): RunningProcess {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return {
    child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function waitFor<T>(
  what: string,
  proc: RunningProcess,
  probe: () => T | undefined | Promise<T | undefined>,
) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited early:\n${proc.output()}`);
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not ready after 60 s:\n${proc.output()}`);
}

/**
 * The inference node's production build (`tts serve` from apps/inference/dist) on an ephemeral port it reports in
 * its log. By default it runs a tiny-random bundle it generates itself and resolves once the model is ready;
 * `model: "download"` makes it fetch the model from `HF_ENDPOINT` instead (for tests of a node that cannot) and
 * resolves once it listens.
 */
export async function startInference(
  env: Record<string, string>,
  {
    model = "tiny",
    variant = "turbo",
    textPositions = true,
  }: {
    model?: "tiny" | "download";
    variant?: "turbo" | "english";
    /** English: false makes a bundle whose embed_tokens has no text-position table (no guidance). */
    textPositions?: boolean;
  } = {},
): Promise<RunningProcess & { url: string }> {
  const inferenceDir = path.dirname(require.resolve("@tts/inference/package.json"));
  const work = mkdtempSync(path.join(tmpdir(), "tts-e2e-"));
  const bundle = path.join(work, "bundle");
  if (model === "tiny") {
    const made = spawnSync(
      process.execPath,
      [
        "dist/cli.js",
        ...["models", "make-tiny", "--variant", variant, "--out", bundle],
        ...(textPositions ? [] : ["--no-text-positions"]),
      ],
      { cwd: inferenceDir, encoding: "utf8" },
    );
    if (made.status !== 0) throw new Error(`make-tiny failed: ${made.stderr}`);
  }
  const proc = startProcess(
    process.execPath,
    ["dist/cli.js", "serve", "--port", "0", "--host", "127.0.0.1"],
    {
      ...(model === "tiny" ? { TTS_MODEL_DIR: bundle } : { TTS_CACHE_DIR: path.join(work, "cache") }),
      TTS_MODEL: variant,
      TTS_DTYPE: "fp32",
      TTS_DEVICE: "cpu",
      DATA_DIR: path.join(work, "data"),
      ...env,
    },
    inferenceDir,
  );
  const port = await waitFor(
    "inference node",
    proc,
    () => /"port":(\d+).*"inference node listening"/.exec(proc.output())?.[1],
  );
  if (model === "tiny")
    await waitFor("model", proc, () => (/"model ready"/.test(proc.output()) ? true : undefined));
  return { ...proc, url: `http://127.0.0.1:${port}` };
}

/** `next start` on the production build in .next. */
export async function startWeb(
  port: number,
  env: Record<string, string>,
): Promise<RunningProcess & { url: string }> {
  const nextBin = require.resolve("next/dist/bin/next");
  const proc = startProcess(
    process.execPath,
    [nextBin, "start", "--port", String(port), "--hostname", "127.0.0.1"],
    { NEXT_TELEMETRY_DISABLED: "1", ...env },
    webDir,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor("web app", proc, async () => {
    try {
      await fetch(url, { redirect: "manual" });
      return true;
    } catch {
      return undefined;
    }
  });
  return { ...proc, url };
}

export interface Stack {
  inference: RunningProcess & { url: string };
  web: RunningProcess & { url: string };
  browser: Browser;
  /** Closes the browser and stops both servers (each only once, whatever a test stopped already). */
  stop: () => Promise<void>;
}

/**
 * What most browser tests need: an inference node (see startInference) that allows the web app's origin, the web
 * app pointed at it, and Chromium.
 */
export async function startStack({
  inferenceEnv = {},
  inferenceOptions = {},
  webEnv = {},
  chromiumArgs = [],
}: {
  inferenceEnv?: Record<string, string>;
  inferenceOptions?: Parameters<typeof startInference>[1];
  webEnv?: Record<string, string>;
  chromiumArgs?: string[];
} = {}): Promise<Stack> {
  const webPort = await freePort();
  const inference = await startInference(
    { CORS_ORIGINS: `http://127.0.0.1:${webPort}`, ...inferenceEnv },
    inferenceOptions,
  );
  const web = await startWeb(webPort, { NEXT_PUBLIC_TTS_API_BASE: inference.url, ...webEnv });
  const browser = await launchChromium(chromiumArgs);
  return {
    inference,
    web,
    browser,
    stop: async () => {
      await browser.close();
      await web.stop();
      await inference.stop();
    },
  };
}
