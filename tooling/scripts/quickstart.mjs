#!/usr/bin/env node
// @ts-check
// The two README Quickstart commands (`npm start`, `npm test`) land here. They must work on a machine that has
// only Node 18+ and npm, so this file (and node-runtime.mjs beside it) uses nothing but Node built-ins.
//
// The project itself runs on the Node.js pinned in package.json ("quickstart": { "node": "X.Y.Z" }). A system
// Node of that major or newer is used as is; an older one only launches this script, which installs the pinned
// version from the npm registry into .cache/node (the node-<platform>-<arch> packages) and puts its bin folder
// first on PATH for everything it starts: pnpm runs scripts with the `node` it finds on PATH, and so do turbo,
// the package bin shims, vitest (whose children use process.execPath), Next.js and the servers.
// Why not the standard "devEngines.runtime" field: npm (11 here) refuses to run any script, `npm start` and
// `npm test` included, when the running Node does not match it (EBADDEVENGINES), and pnpm 12 acts on it too
// (with onFail "download" it fetches Node from nodejs.org, unreachable where only the npm registry is).
// Nothing else reads "quickstart". "engines.node" states the supported range (>= the pinned major).
//
// pnpm is pinned in package.json ("packageManager") and installed into .cache/pnpm with npm: corepack refuses
// registry mirrors that serve packages without signatures, and npm reaches the same registry the install needs
// anyway.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  isNewEnough,
  nodeBinaryPath,
  nodePackageName,
  parseVersion,
  pinnedNodeVersion,
} from "./node-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const pnpmVersion = manifest.packageManager.split("@")[1];
const pnpmHome = path.join(root, ".cache", "pnpm");
const nodeHome = path.join(root, ".cache", "node");
// Windows spells it "Path"; a second "PATH" key in a child's environment would be ambiguous.
const pathKey = Object.keys(process.env).find((key) => key.toUpperCase() === "PATH") ?? "PATH";
/** @type {NodeJS.ProcessEnv} */
const env = {
  ...process.env,
  NEXT_TELEMETRY_DISABLED: "1",
  TURBO_TELEMETRY_DISABLED: "1",
};
/**
 * Puts these folders first on the PATH of every child.
 * @param {...string} dirs
 */
function prependPath(...dirs) {
  env[pathKey] = [...dirs, process.env[pathKey]].filter(Boolean).join(path.delimiter);
}
prependPath(path.join(pnpmHome, "node_modules", ".bin"));

/** @param {string} title */
function step(title) {
  console.log(`\n\x1b[1m==> ${title}\x1b[0m`);
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {import("node:child_process").SpawnSyncOptions} [options]
 */
function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit", ...options });
  if (result.status !== 0) {
    const reason = result.error ? result.error.message : `exit code ${result.status ?? result.signal}`;
    throw new Error(`\`${cmd} ${args.join(" ")}\` failed (${reason})`);
  }
}

/**
 * `<binary> --version`, or undefined when it does not run.
 * @param {string} binary
 * @param {import("node:child_process").SpawnSyncOptions} [options]
 * @returns {string | undefined}
 */
function versionOf(binary, options = {}) {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", ...options });
  return result.status === 0 ? String(result.stdout).trim() : undefined;
}

/**
 * Installs the pinned Node.js into .cache/node (unless it is there already) and returns its binary.
 * @param {string} version
 * @param {number | undefined} requiredMajor
 */
function fetchNode(version, requiredMajor) {
  const yourself = `or install Node.js ${requiredMajor}+ yourself (.node-version names it for version managers)`;
  const pkg = nodePackageName(process.platform, process.arch);
  if (!pkg) {
    throw new Error(
      `Node.js ${requiredMajor}+ is needed (this one is ${process.version}) and the npm registry has no Node.js ` +
        `package for ${process.platform}-${process.arch}: ${yourself}`,
    );
  }
  const binary = nodeBinaryPath(path.join(nodeHome, "node_modules", pkg), process.platform);
  if (versionOf(binary) === `v${version}`) return { binary, source: `${pkg}@${version}, fetched earlier` };
  step(`Installing Node.js ${version} (${pkg} from the npm registry) into .cache/node`);
  try {
    run("npm", [
      "install",
      "--prefix",
      nodeHome,
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `${pkg}@${version}`,
    ]);
  } catch (error) {
    throw new Error(
      `${/** @type {Error} */ (error).message}. Check that the registry has it (\`npm view ${pkg} versions\`), ${yourself}`,
    );
  }
  const seen = versionOf(binary);
  if (seen !== `v${version}`) {
    throw new Error(
      `the Node.js installed into .cache/node does not run here (\`${binary} --version\`: ` +
        `${seen ?? "failed"}, expected v${version}); ${yourself}`,
    );
  }
  return { binary, source: `${pkg}@${version}, fetched now` };
}

/**
 * Picks the Node.js that runs everything (the system one if new enough, else the pinned one in .cache/node),
 * puts it first on PATH for every child and says which one it is and why.
 */
function ensureNode() {
  const version = pinnedNodeVersion(manifest);
  const requiredMajor = parseVersion(version)?.major;
  let binary = process.execPath;
  let why =
    `the system Node.js (${binary}), used as is: new enough for the required ${requiredMajor} ` +
    `(${version} is pinned)`;
  if (!isNewEnough(process.version, version)) {
    const fetched = fetchNode(version, requiredMajor);
    binary = fetched.binary;
    why =
      `${path.relative(root, binary)} (${fetched.source} from the npm registry): the system Node.js ` +
      `${process.version} is older than the required ${requiredMajor}`;
  }
  prependPath(path.join(pnpmHome, "node_modules", ".bin"), path.dirname(binary));
  // `npm start` / `npm test` export the Node that ran npm (the system one) under these names.
  for (const key of ["NODE", "npm_node_execpath"]) if (env[key]) env[key] = binary;
  // Children find node on PATH: make sure they get this one.
  const expected = versionOf(binary);
  const onPath = versionOf("node", { env });
  if (!expected || onPath !== expected) {
    throw new Error(`\`node\` on PATH is ${onPath ?? "not runnable"}, expected ${expected} (${binary})`);
  }
  step(`Running on Node.js ${expected}: ${why}`);
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
  ensureNode();
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
    step("Reliability suite (CI profile: hostile HTTP, fuzzing, load; docs/reliability.md)");
    run("pnpm", ["run", "test:reliability"]);
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
  ensureNode();
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
  /** @param {number} code */
  function shutdown(code) {
    if (!stopping) {
      stopping = true;
      process.exitCode = code;
    }
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
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

/** @type {Record<string, () => void>} */
const commands = { start, test };
const command = commands[process.argv[2] ?? ""];
if (!command) {
  console.error(`usage: quickstart.mjs ${Object.keys(commands).join("|")}`);
  process.exit(2);
}
try {
  command();
} catch (error) {
  console.error(
    `\n\x1b[31mquickstart ${process.argv[2]} failed:\x1b[0m ${/** @type {Error} */ (error).message}`,
  );
  process.exit(1);
}
