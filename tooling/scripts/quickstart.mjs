#!/usr/bin/env node
// The two README Quickstart commands (`npm start`, `npm test`) land here. They must work on a machine that has
// only Node 20+ and npm, so this file uses nothing but Node built-ins. pnpm is pinned in package.json
// ("packageManager") and installed into .cache/pnpm with npm: corepack refuses registry mirrors that serve
// packages without signatures, and npm reaches the same registry the install needs anyway.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pnpmVersion = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).packageManager.split(
  "@",
)[1];
const pnpmHome = path.join(root, ".cache", "pnpm");
const env = {
  ...process.env,
  PATH: `${path.join(pnpmHome, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}`,
  NEXT_TELEMETRY_DISABLED: "1",
  TURBO_TELEMETRY_DISABLED: "1",
};

function step(title) {
  console.log(`\n\x1b[1m==> ${title}\x1b[0m`);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit", ...options });
  if (result.status !== 0) {
    const reason = result.error ? result.error.message : `exit code ${result.status ?? result.signal}`;
    throw new Error(`\`${cmd} ${args.join(" ")}\` failed (${reason})`);
  }
}

function installedPnpmVersion() {
  const result = spawnSync("pnpm", ["--version"], { env, encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function ensurePnpm() {
  if (installedPnpmVersion() === pnpmVersion) return;
  step(`Installing pnpm ${pnpmVersion} into .cache/pnpm`);
  run("npm", [
    "install",
    "--prefix",
    pnpmHome,
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    `pnpm@${pnpmVersion}`,
  ]);
  if (installedPnpmVersion() !== pnpmVersion)
    throw new Error(`pnpm ${pnpmVersion} is not runnable after install`);
}

function installDependencies() {
  step("Installing dependencies (frozen lockfile, CPU-only onnxruntime)");
  run("pnpm", ["install", "--frozen-lockfile"]);
}

// Tests use real players and browsers from Debian: chromium (driven by playwright-core, whose own browser
// download cannot work offline) and ffmpeg (reads the audio streams the way clients do).
const DEBIAN_TEST_TOOLS = [
  { pkg: "chromium", binary: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
  { pkg: "ffmpeg", binary: "/usr/bin/ffmpeg" },
];

function ensureTestTools() {
  const missing = DEBIAN_TEST_TOOLS.filter(({ binary }) => !existsSync(binary));
  if (missing.length === 0) return;
  const names = missing.map(({ pkg }) => pkg);
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync("/usr/bin/apt-get")) {
    throw new Error(
      `The tests need ${names.join(" and ")} (${missing.map(({ binary }) => binary).join(", ")}). ` +
        `Install them (Debian/Ubuntu: sudo apt-get install ${names.join(" ")}), or set CHROMIUM_PATH.`,
    );
  }
  step(`Installing Debian's ${names.join(" and ")} for the tests`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-qq"], { env: aptEnv });
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...names], { env: aptEnv });
}

// Each vitest run writes a JSON report into its workspace's test-results/ (tooling/vitest); sum them into one line.
function summarizeTests() {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const dir of workspaceDirs()) {
    const reports = path.join(dir, "test-results");
    if (!existsSync(reports)) continue;
    for (const file of readdirSync(reports).filter((name) => name.endsWith(".json"))) {
      const json = JSON.parse(readFileSync(path.join(reports, file), "utf8"));
      passed += json.numPassedTests;
      failed += json.numFailedTests;
      skipped += json.numPendingTests + (json.numTodoTests ?? 0);
    }
  }
  return { passed, failed, skipped };
}

function workspaceDirs() {
  return ["apps", "packages", "tooling"]
    .flatMap((group) => {
      const base = path.join(root, group);
      return existsSync(base) ? readdirSync(base).map((name) => path.join(base, name)) : [];
    })
    .concat(path.join(root, "infra-pulumi"));
}

function test() {
  ensurePnpm();
  installDependencies();
  ensureTestTools();
  for (const dir of workspaceDirs()) rmSync(path.join(dir, "test-results"), { recursive: true, force: true });
  let failure;
  try {
    step("Typecheck");
    run("pnpm", ["run", "typecheck"]);
    step("Lint");
    run("pnpm", ["run", "lint"]);
    step("Unit and integration tests (every workspace)");
    run("pnpm", ["run", "test:unit"]);
    step("Browser tests (production build, Debian chromium)");
    run("pnpm", ["run", "e2e"]);
  } catch (error) {
    failure = error;
  }
  const { passed, failed, skipped } = summarizeTests();
  console.log(`\nTests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  if (failure) throw failure;
  if (passed === 0) throw new Error("no test ran");
}

function start() {
  ensurePnpm();
  installDependencies();
  step("Building (turbo)");
  run("pnpm", ["run", "build"]);
  step("Starting inference on :7860 and web on :3000 (Ctrl-C stops both)");
  let stopping = false;
  // Each app runs in its own process group so stopping reaches the server under pnpm, not only pnpm itself.
  const children = ["@tts/inference", "@tts/web"].map((name) => {
    const child = spawn("pnpm", ["--silent", "--filter", name, "run", "start"], {
      cwd: root,
      env,
      stdio: "inherit",
      detached: true,
    });
    child.on("exit", (code, signal) => {
      if (!stopping) console.log(`${name} exited (${code ?? signal}); stopping the stack`);
      shutdown(stopping ? 0 : 1);
    });
    return child;
  });
  function shutdown(code) {
    if (!stopping) {
      stopping = true;
      process.exitCode = code;
    }
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
  }
  process.on("SIGINT", () => shutdown(0));
  process.on("SIGTERM", () => shutdown(0));
}

const commands = { start, test };
const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: quickstart.mjs ${Object.keys(commands).join("|")}`);
  process.exit(2);
}
try {
  command();
} catch (error) {
  console.error(`\n\x1b[31mquickstart ${process.argv[2]} failed:\x1b[0m ${error.message}`);
  process.exit(1);
}
