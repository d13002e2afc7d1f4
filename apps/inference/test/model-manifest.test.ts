import { mkdtemp, readFile, rm, stat, truncate, unlink, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { parseEnv } from "../src/env";
import { ensureModel, modelSettingsFromEnv, type ModelSettings } from "../src/model-settings";
import type { DownloadProgress } from "../src/models/download-progress";
import { MANIFEST_FILE, type Manifest } from "../src/models/manifest";
import { modelDir } from "../src/models/registry";
import { FakeHub, fakeSpec } from "./support/fake-hub";

// ensureModel resolves the real registry: English pins no sizes, so the fake repository can serve small files.
const { spec, contents } = fakeSpec("english", "fp32");
const hub = new FakeHub(spec, contents);
const tempDirs: string[] = [];

beforeAll(() => hub.start());
beforeEach(() => hub.reset());
afterAll(async () => {
  await hub.stop();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function settings(): Promise<ModelSettings> {
  const cacheDir = await mkdtemp(path.join(tmpdir(), "tts-manifest-"));
  tempDirs.push(cacheDir);
  const base = modelSettingsFromEnv(parseEnv({}));
  return {
    ...base,
    variant: "english",
    dtype: "fp32",
    modelDir: undefined,
    cacheDir,
    endpoint: hub.endpoint,
  };
}

async function readManifestFile(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), "utf8")) as Manifest;
}

async function expectIntact(dir: string, file: string): Promise<void> {
  const local = await readFile(path.join(dir, file));
  expect(local.equals(contents.get(file) ?? Buffer.alloc(0)), `${file} differs from the hub's`).toBe(true);
}

const graph = spec.stageFiles.language_model;

describe("ensureModel checks the cache against its manifest at startup", () => {
  it("downloads a missing cache once, then starts from it without a single request", async () => {
    const model = await settings();
    const dir = modelDir(model.cacheDir, spec);
    await expect(ensureModel(model)).resolves.toEqual({ dir, manifest: "verified" });
    expect(hub.gets()).toHaveLength(spec.files.length);
    expect((await readManifestFile(dir)).files).toHaveLength(spec.files.length);

    hub.reset();
    const events: DownloadProgress[] = [];
    await expect(ensureModel(model, (e) => events.push(e))).resolves.toEqual({ dir, manifest: "verified" });
    expect(hub.hits).toEqual([]);
    expect(hub.treeRequests).toEqual([]);
    expect(events).toEqual([]);
  });

  it("catches a truncated file by its size and downloads it again", async () => {
    const model = await settings();
    const { dir } = await ensureModel(model);
    const size = contents.get(graph)?.length ?? 0;
    await truncate(path.join(dir, graph), 100);

    hub.reset();
    const events: DownloadProgress[] = [];
    await ensureModel(model, (e) => events.push(e));
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "warning",
        file: graph,
        message: `corrupt (size is 100 bytes, the manifest says ${size}); downloading it again`,
      }),
    );
    expect(hub.gets().map((hit) => hit.file)).toEqual([graph]);
    await expectIntact(dir, graph);
  });

  it("rehashes a file whose mtime moved, keeps it if its bytes still match, and records the new mtime", async () => {
    const model = await settings();
    const { dir } = await ensureModel(model);
    const file = path.join(dir, graph);
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);

    hub.reset();
    await ensureModel(model);
    expect(hub.hits).toEqual([]);
    const entry = (await readManifestFile(dir)).files.find((e) => e.path === graph);
    expect(entry?.mtimeMs).toBe((await stat(file)).mtimeMs);
  });

  it("checks a cache made before manifests against the hub once, then writes one", async () => {
    const model = await settings();
    const { dir } = await ensureModel(model);
    await unlink(path.join(dir, MANIFEST_FILE));

    hub.reset();
    await ensureModel(model);
    // The tree listing only: every file is rehashed locally and matches, so nothing is downloaded.
    expect(hub.treeRequests.length).toBeGreaterThan(0);
    expect(hub.gets()).toEqual([]);
    expect((await readManifestFile(dir)).files).toHaveLength(spec.files.length);

    hub.reset();
    await ensureModel(model);
    expect(hub.treeRequests).toEqual([]);
  });

  it("uses a TTS_MODEL_DIR folder as is: it has no manifest, and nothing is fetched", async () => {
    const folder = await mkdtemp(path.join(tmpdir(), "tts-bundle-"));
    tempDirs.push(folder);
    await expect(ensureModel({ ...(await settings()), modelDir: folder })).resolves.toEqual({
      dir: folder,
      manifest: "absent",
    });
    expect(hub.hits).toEqual([]);
    expect(hub.treeRequests).toEqual([]);
  });
});
