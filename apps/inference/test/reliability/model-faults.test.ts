import { cp, mkdtemp, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { ChatterboxModel } from "../../src/engine/model";
import { parseEnv } from "../../src/env";
import { ensureModel, modelSettingsFromEnv, type ModelSettings } from "../../src/model-settings";
import { downloadModel, type DownloadOptions } from "../../src/models/download";
import { ModelDownloadError } from "../../src/models/download-errors";
import type { DownloadProgress } from "../../src/models/download-progress";
import { classifyModelFailure } from "../../src/models/failure-category";
import { MANIFEST_FILE } from "../../src/models/manifest";
import { verifyAgainstManifest } from "../../src/models/verify";
import { runCli } from "../support/cli";
import { FakeHub, fakeSpec, sha256 } from "../support/fake-hub";
import { tinyBundle } from "../support/tiny";

// ensureModel and the CLI resolve the real registry: English pins no sizes, so the fake files can be small.
const { spec, contents } = fakeSpec("english", "fp32");
const hub = new FakeHub(spec, contents);
const graph = spec.stageFiles.language_model;
const weights = `${graph}_data`;
const tempDirs: string[] = [];

beforeAll(() => hub.start());
beforeEach(() => hub.reset());
afterAll(async () => {
  await hub.stop();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "tts-model-faults-"));
  tempDirs.push(dir);
  return dir;
}

async function settings(endpoint = hub.endpoint): Promise<ModelSettings> {
  const base = modelSettingsFromEnv(parseEnv({}));
  return {
    ...base,
    variant: "english",
    dtype: "fp32",
    modelDir: undefined,
    cacheDir: await tempDir(),
    endpoint,
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

async function flipByte(file: string, at: number): Promise<Buffer> {
  const bytes = await readFile(file);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await writeFile(file, bytes);
  return bytes;
}

describe("corrupted model files in the cache", () => {
  it("a file whose bytes changed (same size, mtime moved) is refused at startup and downloaded again", async () => {
    const model = await settings();
    const { dir } = await ensureModel(model);
    const file = path.join(dir, weights);
    const damaged = await flipByte(file, 500);

    hub.reset();
    const events: DownloadProgress[] = [];
    await ensureModel(model, (e) => events.push(e));
    const good = contents.get(weights) ?? Buffer.alloc(0);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "warning",
        file: weights,
        message: `corrupt (SHA-256 is ${sha256(damaged)}, the manifest says ${sha256(good)}); downloading it again`,
      }),
    );
    expect(hub.gets().map((hit) => hit.file)).toEqual([weights]);
    expect((await readFile(file)).equals(good)).toBe(true);
  });

  it("a corrupt file that cannot be downloaded again fails startup with an error naming it", async () => {
    const model = await settings();
    const { dir } = await ensureModel(model);
    await truncate(path.join(dir, weights), 100);
    const size = contents.get(weights)?.length ?? 0;

    // Offline: the error names the file and why it was refused, and /readyz blames the hub.
    const offline = await ensureModel({ ...model, endpoint: await closedPort() }).catch((e: unknown) => e);
    expect(offline).toBeInstanceOf(ModelDownloadError);
    expect((offline as Error).message).toMatch(
      new RegExp(
        `^Model file ${weights} in ${dir} is corrupt \\(size is 100 bytes, the manifest says ${size}\\), ` +
          `and downloading it again failed: Cannot reach http://127\\.0\\.0\\.1:\\d+ \\(ECONNREFUSED\\)`,
      ),
    );
    expect(classifyModelFailure(offline).category).toBe("hub-unreachable");

    // The unusable copy is gone either way; put one back. The hub serves wrong bytes, twice: refused, named,
    // and blamed on the files.
    await writeFile(path.join(dir, weights), Buffer.alloc(100));
    const wrong = Buffer.from(contents.get(weights) ?? Buffer.alloc(0)).fill(7, 0, 10);
    hub.faults.set(weights, [{ body: wrong }, { body: wrong }]);
    const corrupt = await ensureModel(model).catch((e: unknown) => e);
    expect(corrupt).toMatchObject({ file: weights, code: "hash-mismatch" });
    expect((corrupt as Error).message).toContain(`Model file ${weights} in ${dir} is corrupt`);
    expect((corrupt as Error).message).toContain(`Hash mismatch for ${weights}`);
    expect(classifyModelFailure(corrupt).category).toBe("model-files");
  });

  it("`tts models verify` finds a flipped byte the startup check cannot see, names the file and exits 1", async () => {
    const model = await settings();
    const { dir } = await ensureModel(model);
    const file = path.join(dir, weights);
    // Whole seconds survive utimes exactly; ensureModel rehashes the touched file and records that mtime.
    const when = Math.floor((await stat(file)).mtimeMs / 1000) - 60;
    await utimes(file, when, when);
    await ensureModel(model);

    const damaged = await flipByte(file, 1_234);
    await utimes(file, when, when);
    hub.reset();
    await ensureModel(model);
    expect(hub.hits).toEqual([]); // same size, same mtime: the cheap check trusts it

    const flags = ["--model", "english", "--dtype", "fp32", "--cache-dir", model.cacheDir];
    const verify = await runCli(["models", "verify", ...flags, "--endpoint", hub.endpoint]);
    expect(verify.code).toBe(1);
    const good = contents.get(weights) ?? Buffer.alloc(0);
    expect(verify.stdout).toContain(
      `MISMATCH  ${weights}: SHA-256 is ${sha256(damaged)}, the manifest says ${sha256(good)}\n`,
    );
    for (const other of spec.files.filter((f) => f.path !== weights)) {
      expect(verify.stdout).toContain(`ok        ${other.path}\n`);
    }
    expect(verify.stderr).toMatch(`files failed verification in ${dir}: ${weights}. Run \`tts models pull\``);
    expect(hub.hits).toEqual([]); // verify never touches the network
  });
});

describe("classifyModelFailure", () => {
  const download = async (options: Partial<DownloadOptions> = {}) =>
    downloadModel(spec, { dir: await tempDir(), endpoint: hub.endpoint, retryDelayMs: 1, ...options }).catch(
      (e: unknown) => e,
    );

  it("blames the hub for what a retry can fix: unreachable, dropped or timed out, 5xx", async () => {
    const refused = await download({ endpoint: await closedPort() });
    expect(refused).toMatchObject({ code: "unreachable" });

    hub.faults.set(weights, [{ status: 503 }, { status: 503 }]);
    const unavailable = await download({ retries: 1 });
    expect(unavailable).toMatchObject({ code: "http", status: 503 });

    hub.reset();
    hub.faults.set(weights, [{ drop: 10 }, { drop: 10 }]);
    const dropped = await download({ retries: 1 });
    expect(dropped).toMatchObject({ code: "network" });

    // A server that accepts the connection and never answers.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const timedOut = await download({
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      headersTimeoutMs: 50,
      retries: 0,
    });
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
    expect(timedOut).toMatchObject({ code: "network" });

    for (const error of [refused, unavailable, dropped, timedOut]) {
      expect(classifyModelFailure(error), String(error)).toEqual({
        category: "hub-unreachable",
        advice:
          "The model hub could not be reached; check network access or set TTS_MODEL_DIR to a downloaded " +
          "bundle. Retrying.",
      });
    }
  });

  it("blames the files for what only new files fix: 401/404, bad hashes or sizes, unloadable graphs", async () => {
    hub.faults.set(weights, [{ status: 404 }]);
    const notFound = await download();
    hub.reset();
    hub.faults.set(weights, [{ status: 401 }]);
    const denied = await download();
    hub.reset();
    const wrong = Buffer.from(contents.get(weights) ?? Buffer.alloc(0)).fill(1, 0, 4);
    hub.faults.set(weights, [{ body: wrong }, { body: wrong }]);
    const badHash = await download();
    hub.reset();
    hub.faults.set(weights, [{ body: Buffer.alloc(10) }]);
    const badSize = await download();
    expect([notFound, denied, badHash, badSize].map((e) => (e as ModelDownloadError).code)).toEqual([
      "not-found",
      "unauthorized",
      "hash-mismatch",
      "size-mismatch",
    ]);

    // A graph onnxruntime cannot parse, through the real load path.
    const bundle = await tinyBundle({ variant: "english" });
    const broken = await tempDir();
    await cp(bundle.dir, broken, { recursive: true });
    await writeFile(path.join(broken, "onnx", "embed_tokens.onnx"), "not a protobuf");
    const unloadable = await ChatterboxModel.load(broken, { dtype: "fp32", device: "cpu", threads: 1 }).catch(
      (e: unknown) => e,
    );
    expect((unloadable as Error).message).toMatch(
      /^Load model from .*embed_tokens\.onnx failed:Protobuf parsing failed/,
    );

    // A bundle folder that is not there, and a manifest that is not one.
    const noFolder = await ensureModel({ ...(await settings()), modelDir: "/nonexistent/bundle" }).catch(
      (e: unknown) => e,
    );
    const garbled = await tempDir();
    await writeFile(path.join(garbled, MANIFEST_FILE), "{ not json");
    const badManifest = await verifyAgainstManifest(spec, garbled).catch((e: unknown) => e);

    for (const error of [notFound, denied, badHash, badSize, unloadable, noFolder, badManifest]) {
      expect(classifyModelFailure(error), String(error)).toEqual({
        category: "model-files",
        advice:
          "Model files are missing or corrupt; run `tts models verify`, or delete the cache to download them again.",
      });
    }
  });

  it("calls anything else a failure, and never repeats paths, URLs or error text in the advice", () => {
    const other = classifyModelFailure(new TypeError("Cannot read properties of undefined (reading 'run')"));
    expect(other).toEqual({
      category: "failed",
      advice: "The model failed to load; the node's log has the error.",
    });
    expect(classifyModelFailure("a string")).toMatchObject({ category: "failed" });
    // Wrapped: the cause decides.
    const wrapped = new Error("model failed to load", {
      cause: Object.assign(new Error("x"), { code: "ENOTFOUND" }),
    });
    expect(classifyModelFailure(wrapped).category).toBe("hub-unreachable");
    for (const category of ["hub-unreachable", "model-files", "failed"]) {
      const { advice } = [
        classifyModelFailure(wrapped),
        classifyModelFailure(new ModelDownloadError("x", "f", "hash-mismatch")),
        other,
      ].find((c) => c.category === category) ?? { advice: "" };
      expect(advice).not.toMatch(/https?:|\/[a-z]|\\\\/i);
    }
  });
});
