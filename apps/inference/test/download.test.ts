import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, truncate, unlink, utimes, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { Agent } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { downloadModel, type DownloadOptions } from "../src/models/download";
import { backoffMs, ModelDownloadError } from "../src/models/download-errors";
import type { DownloadProgress } from "../src/models/download-progress";
import { parseContentLength, parseContentRange } from "../src/models/http-headers";
import { MANIFEST_FILE, type Manifest } from "../src/models/manifest";
import { createProgressReporter } from "../src/models/progress-reporter";
import { nextPage, publishedFromHeaders } from "../src/models/published";
import { defaultCacheDir, fileUrl, modelDir, resolveModel } from "../src/models/registry";
import { verifyModel } from "../src/models/verify";
import { FakeHub, fakeSpec, gitBlobSha1, isLfs, sha256 } from "./support/fake-hub";

const { spec, contents } = fakeSpec();
const hub = new FakeHub(spec, contents);
const dispatcher = new Agent({ keepAliveTimeout: 1_000 });
const tempDirs: string[] = [];

beforeAll(() => hub.start());
beforeEach(() => hub.reset());
afterAll(async () => {
  await dispatcher.close();
  await hub.stop();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "tts-download-"));
  tempDirs.push(dir);
  return dir;
}

function download(dir: string, options: Partial<DownloadOptions> = {}) {
  return downloadModel(spec, { dir, endpoint: hub.endpoint, dispatcher, retryDelayMs: 1, ...options });
}

async function expectIntact(dir: string, file: string): Promise<void> {
  const local = await readFile(path.join(dir, file));
  expect(local.equals(contents.get(file) ?? Buffer.alloc(0)), `${file} differs from the server's`).toBe(true);
}

async function readManifestFile(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), "utf8")) as Manifest;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

const graph = "onnx/language_model_q4.onnx_data";
const graphSize = contents.get(graph)?.length ?? 0;

describe("registry", () => {
  it("lists Turbo q4 as 8 graph files plus the root files, with the published sizes", () => {
    const turbo = resolveModel("turbo", "q4");
    expect(turbo.repo).toBe("ResembleAI/chatterbox-turbo-ONNX");
    expect(turbo.revision).toBe("d21799bd0354adb85e348b8a0442a8405110a2cf");
    expect(turbo.files).toEqual([
      { path: "tokenizer.json" },
      { path: "tokenizer_config.json" },
      { path: "config.json" },
      { path: "generation_config.json" },
      { path: "onnx/speech_encoder_q4.onnx", size: 1_200_346 },
      { path: "onnx/speech_encoder_q4.onnx_data", size: 229_560_112 },
      { path: "onnx/embed_tokens_q4.onnx", size: 2_844 },
      { path: "onnx/embed_tokens_q4.onnx_data", size: 37_286_384 },
      { path: "onnx/language_model_q4.onnx", size: 274_572 },
      { path: "onnx/language_model_q4.onnx_data", size: 204_456_572 },
      { path: "onnx/conditional_decoder_q4.onnx", size: 2_179_022 },
      { path: "onnx/conditional_decoder_q4.onnx_data", size: 246_397_384 },
    ]);
    expect(turbo.stageFiles.conditional_decoder).toBe("onnx/conditional_decoder_q4.onnx");
    expect(resolveModel("turbo", "q8").stageFiles.speech_encoder).toBe("onnx/speech_encoder_quantized.onnx");
    expect(resolveModel("turbo", "fp32").stageFiles.embed_tokens).toBe("onnx/embed_tokens.onnx");
  });

  it("quantizes only the English LM and ships its default voice", () => {
    const english = resolveModel("english", "q4");
    expect(english.repo).toBe("onnx-community/chatterbox-ONNX");
    expect(english.stageFiles).toEqual({
      speech_encoder: "onnx/speech_encoder.onnx",
      embed_tokens: "onnx/embed_tokens.onnx",
      language_model: "onnx/language_model_q4.onnx",
      conditional_decoder: "onnx/conditional_decoder.onnx",
    });
    expect(english.files.map((f) => f.path)).toEqual([
      "tokenizer.json",
      "default_voice.wav",
      "onnx/speech_encoder.onnx",
      "onnx/speech_encoder.onnx_data",
      "onnx/embed_tokens.onnx",
      "onnx/embed_tokens.onnx_data",
      "onnx/language_model_q4.onnx",
      "onnx/language_model_q4.onnx_data",
      "onnx/conditional_decoder.onnx",
      "onnx/conditional_decoder.onnx_data",
    ]);
    expect(english.files.every((f) => f.size === undefined)).toBe(true);
    expect(resolveModel("english", "fp32").stageFiles.language_model).toBe("onnx/language_model.onnx");
  });

  it("builds revision-pinned URLs and cache paths", () => {
    const turbo = resolveModel("turbo", "q4");
    expect(fileUrl(turbo, "onnx/embed_tokens_q4.onnx")).toBe(
      "https://huggingface.co/ResembleAI/chatterbox-turbo-ONNX/resolve/d21799bd0354adb85e348b8a0442a8405110a2cf/onnx/embed_tokens_q4.onnx",
    );
    expect(fileUrl(turbo, "config.json", "http://mirror.test/")).toBe(
      "http://mirror.test/ResembleAI/chatterbox-turbo-ONNX/resolve/d21799bd0354adb85e348b8a0442a8405110a2cf/config.json",
    );
    expect(defaultCacheDir({ homeDir: "/home/u" })).toBe("/home/u/.cache/chatterbox-tts");
    expect(defaultCacheDir({ xdgCacheHome: "/xdg", homeDir: "/home/u" })).toBe("/xdg/chatterbox-tts");
    expect(defaultCacheDir({ xdgCacheHome: "relative", homeDir: "/home/u" })).toBe(
      "/home/u/.cache/chatterbox-tts",
    );
    expect(modelDir("/c", turbo)).toBe(
      "/c/ResembleAI--chatterbox-turbo-ONNX/d21799bd0354adb85e348b8a0442a8405110a2cf",
    );
  });

  it("rejects unknown variants and dtypes, listing the valid ones", () => {
    expect(() => resolveModel("turbo", "int8")).toThrow(
      'Unknown model dtype "int8": expected one of fp32, fp16, q8, q4, q4f16',
    );
    expect(() => resolveModel("multilingual", "q4")).toThrow(
      'Unknown model variant "multilingual": expected one of turbo, english',
    );
  });
});

describe("downloadModel against a local fake hub", () => {
  it("downloads every file intact through the redirect, reports progress, then skips on the next run", async () => {
    const dir = await tempDir();
    const events: DownloadProgress[] = [];
    const result = await download(dir, { progressIntervalMs: 0, onProgress: (e) => events.push(e) });

    expect(result).toMatchObject({ downloaded: spec.files.map((f) => f.path), skipped: [], unverified: [] });
    for (const file of spec.files) await expectIntact(dir, file.path);
    expect(await verifyModel(spec, dir)).toEqual({ ok: true, problems: [] });
    expect(hub.gets().every((hit) => hit.range === undefined && hit.status === 200)).toBe(true);

    const types = new Set(events.map((e) => e.type));
    expect([...types].sort()).toEqual(["done", "file-done", "progress", "start"]);
    const done = events.at(-1);
    const total = [...contents.values()].reduce((sum, c) => sum + c.length, 0);
    expect(done).toMatchObject({ type: "done", overallBytes: total, overallTotal: total });
    expect(events.filter((e) => e.type === "file-done")).toHaveLength(spec.files.length);

    hub.reset();
    const again = await download(dir);
    expect(again).toMatchObject({ downloaded: [], skipped: spec.files.map((f) => f.path) });
    // Every file matches its manifest entry (size and mtime): no request at all, not even the tree listing.
    expect(hub.hits).toEqual([]);
    expect(hub.treeRequests).toEqual([]);
  });

  it("writes a manifest with the hub's hashes: SHA-256 for LFS files, the git blob id for the others", async () => {
    const dir = await tempDir();
    const result = await download(dir);

    const manifest = await readManifestFile(dir);
    expect(result.manifest).toEqual(manifest);
    expect(manifest).toMatchObject({ version: 1, repo: spec.repo, revision: spec.revision });
    // X-Repo-Commit comes with the files served straight from git.
    expect(manifest.commit).toBe(spec.revision);
    for (const file of spec.files) {
      const content = contents.get(file.path) ?? Buffer.alloc(0);
      const lfs = isLfs(file.path);
      expect(manifest.files.find((e) => e.path === file.path)).toEqual({
        path: file.path,
        size: content.length,
        mtimeMs: (await stat(path.join(dir, file.path))).mtimeMs,
        sha256: sha256(content),
        hash: lfs ? sha256(content) : gitBlobSha1(content),
        hashKind: lfs ? "sha256" : "git-blob-sha1",
        source: "tree-api",
      });
    }
    expect(manifest.files).toHaveLength(spec.files.length);
    // The tree listing is fetched once, following its Link pages; no per-file HEAD.
    expect(hub.treeRequests.length).toBe(Math.ceil((spec.files.length + 1) / hub.treePageSize));
    expect(hub.hits.filter((hit) => hit.method === "HEAD")).toEqual([]);
  });

  it("falls back to each resolve URL's X-Linked-Etag and ETag headers where there is no tree API", async () => {
    hub.treeApi = false;
    const dir = await tempDir();
    await download(dir);

    const manifest = await readManifestFile(dir);
    for (const entry of manifest.files) {
      const content = contents.get(entry.path) ?? Buffer.alloc(0);
      expect(entry, entry.path).toMatchObject(
        isLfs(entry.path)
          ? { hash: sha256(content), hashKind: "sha256", source: "x-linked-etag" }
          : { hash: gitBlobSha1(content), hashKind: "git-blob-sha1", source: "etag" },
      );
    }
    expect(manifest.commit).toBe(spec.revision);
    // One HEAD per file, not redirected: the 302's own headers name the LFS file's hash.
    const heads = hub.hits.filter((hit) => hit.method === "HEAD");
    expect(heads.map((hit) => hit.file).sort()).toEqual(spec.files.map((f) => f.path).sort());
    expect(heads.filter((hit) => isLfs(hit.file)).every((hit) => hit.status === 302)).toBe(true);
  });

  it("records and reports files the hub publishes no hash for (a proxy that strips headers)", async () => {
    hub.stripHashes = true;
    const dir = await tempDir();
    const events: DownloadProgress[] = [];
    const result = await download(dir, { onProgress: (e) => events.push(e) });

    expect(result.unverified.sort()).toEqual(spec.files.map((f) => f.path).sort());
    for (const file of spec.files) await expectIntact(dir, file.path);
    const manifest = await readManifestFile(dir);
    expect(manifest.commit).toBeNull();
    for (const entry of manifest.files) {
      expect(entry).toMatchObject({
        hash: null,
        hashKind: null,
        source: "none",
        sha256: sha256(contents.get(entry.path) ?? Buffer.alloc(0)),
      });
    }
    const warnings = events.filter((e) => e.type === "warning");
    expect(warnings.map((e) => e.file).sort()).toEqual(spec.files.map((f) => f.path).sort());
    expect(warnings[0]?.message).toMatch(/publishes no hash/);

    // Back on the real hub, `pull` (rehashExisting) checks those files against it without downloading them.
    hub.reset();
    const again = await download(dir, { rehashExisting: true });
    expect(again).toMatchObject({ downloaded: [], unverified: [] });
    expect(hub.gets()).toEqual([]);
    expect((await readManifestFile(dir)).files.every((e) => e.source === "tree-api")).toBe(true);
  });

  it("refuses bytes of the right size that do not match the published hash, naming the file and both hashes", async () => {
    const dir = await tempDir();
    const corrupted = Buffer.from(contents.get(graph) ?? Buffer.alloc(0));
    corrupted[1_000] = (corrupted[1_000] ?? 0) ^ 0xff;
    hub.faults.set(graph, [{ body: corrupted }, { body: corrupted }]);
    const error = await download(dir).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ModelDownloadError);
    expect(error).toMatchObject({ file: graph, code: "hash-mismatch" });
    expect((error as Error).message).toBe(
      `Hash mismatch for ${graph}: the hub publishes sha256 ${sha256(contents.get(graph) ?? Buffer.alloc(0))}, ` +
        `the downloaded bytes have ${sha256(corrupted)}. The partial download was deleted.`,
    );
    // Retried once, from scratch (no Range: the partial was deleted), then given up.
    expect(hub.gets(graph).map((hit) => [hit.range, hit.status])).toEqual([
      [undefined, 200],
      [undefined, 200],
    ]);
    expect(await exists(path.join(dir, graph))).toBe(false);
    expect(await exists(path.join(dir, `${graph}.partial`))).toBe(false);
    expect(await exists(path.join(dir, MANIFEST_FILE))).toBe(false);

    // Corrupted once only: the retry gets good bytes.
    hub.reset();
    hub.faults.set(graph, [{ body: corrupted }]);
    await download(dir);
    await expectIntact(dir, graph);
    expect(hub.gets(graph).map((hit) => hit.range)).toEqual([undefined, undefined]);
  });

  it("a resumed download is verified as a whole: the bytes kept from before are hashed too", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "onnx"), { recursive: true });
    // A partial of the right length with the wrong bytes: appending the rest would look complete.
    await writeFile(path.join(dir, `${graph}.partial`), randomBytes(12_345));
    const events: DownloadProgress[] = [];
    await download(dir, { onProgress: (e) => events.push(e) });

    expect(hub.gets(graph).map((hit) => [hit.range, hit.status])).toEqual([
      ["bytes=12345-", 206],
      [undefined, 200],
    ]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: "retry", file: graph, error: expect.stringMatching(/Hash mismatch/) }),
    );
    await expectIntact(dir, graph);
    const entry = (await readManifestFile(dir)).files.find((e) => e.path === graph);
    expect(entry?.hash).toBe(sha256(contents.get(graph) ?? Buffer.alloc(0)));
  });

  it("checks a cache without a manifest (an older version's) against the hub once, then writes one", async () => {
    const dir = await tempDir();
    await download(dir);
    await unlink(path.join(dir, MANIFEST_FILE));
    // Same size, different bytes: the old size-only check would have kept it.
    const damaged = Buffer.from(contents.get("tokenizer.json") ?? Buffer.alloc(0));
    damaged[0] = (damaged[0] ?? 0) ^ 0xff;
    await writeFile(path.join(dir, "tokenizer.json"), damaged);

    hub.reset();
    const events: DownloadProgress[] = [];
    const result = await download(dir, { onProgress: (e) => events.push(e) });
    expect(result.downloaded).toEqual(["tokenizer.json"]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "warning",
        file: "tokenizer.json",
        message: expect.stringMatching(/^corrupt \(git-blob-sha1 is [0-9a-f]{40}, the hub publishes/),
      }),
    );
    await expectIntact(dir, "tokenizer.json");
    expect((await readManifestFile(dir)).files).toHaveLength(spec.files.length);
    expect(hub.gets().map((hit) => hit.file)).toEqual(["tokenizer.json"]);
  });

  it("resumes with a Range request after the connection dies mid-file", async () => {
    const dir = await tempDir();
    hub.faults.set(graph, [{ drop: 60_000 }]);
    const events: DownloadProgress[] = [];
    await download(dir, { onProgress: (e) => events.push(e) });

    await expectIntact(dir, graph);
    const [first, second, ...rest] = hub.gets(graph);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ range: undefined, sent: 60_000 });
    // Every byte that arrived before the drop was kept.
    expect(second).toMatchObject({ range: "bytes=60000-", status: 206, sent: graphSize - 60_000 });
    expect((first?.sent ?? 0) + (second?.sent ?? 0)).toBeLessThan(2 * graphSize);
    expect(events).toContainEqual(expect.objectContaining({ type: "retry", file: graph, attempt: 2 }));
    expect(await exists(path.join(dir, `${graph}.partial`))).toBe(false);
  });

  it("resumes a .partial left by a previous run", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "onnx"), { recursive: true });
    await writeFile(path.join(dir, `${graph}.partial`), contents.get(graph)?.subarray(0, 12_345) ?? "");
    const result = await download(dir);

    expect(result.downloaded).toContain(graph);
    expect(hub.gets(graph)).toEqual([expect.objectContaining({ range: "bytes=12345-", status: 206 })]);
    await expectIntact(dir, graph);
  });

  it("finishes a .partial that already holds the whole file (416)", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "onnx"), { recursive: true });
    await writeFile(path.join(dir, `${graph}.partial`), contents.get(graph) ?? "");
    await download(dir);

    expect(hub.gets(graph)).toEqual([expect.objectContaining({ range: `bytes=${graphSize}-`, status: 416 })]);
    await expectIntact(dir, graph);
  });

  it("restarts from zero when the server ignores Range", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "onnx"), { recursive: true });
    // Garbage that would corrupt the file if the 200 body were appended to it.
    await writeFile(path.join(dir, `${graph}.partial`), randomBytes(5_000));
    hub.ignoreRange = true;
    hub.faults.set(graph, [{ drop: 50_000 }]);
    await download(dir);

    expect(hub.gets(graph).map((hit) => hit.status)).toEqual([200, 200]);
    await expectIntact(dir, graph);
  });

  it("re-downloads a final file whose size is wrong", async () => {
    const dir = await tempDir();
    await download(dir);
    await truncate(path.join(dir, graph), 100);
    expect(await verifyModel(spec, dir)).toEqual({
      ok: false,
      problems: [`wrong size: ${graph} (expected ${graphSize} bytes, found 100)`],
    });

    hub.reset();
    const result = await download(dir);
    expect(result.downloaded).toEqual([graph]);
    await expectIntact(dir, graph);
  });

  it("retries a 503 and gives up with a resumable error after too many drops", async () => {
    const dir = await tempDir();
    hub.faults.set(graph, [{ status: 503 }]);
    await download(dir);
    await expectIntact(dir, graph);

    const broken = await tempDir();
    hub.reset();
    hub.faults.set(
      graph,
      Array.from({ length: 3 }, () => ({ drop: 1_000 })),
    );
    const error = await download(broken, { retries: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelDownloadError);
    expect(error).toMatchObject({ file: graph, code: "network" });
    expect((error as Error).message).toMatch(/failed after 3 attempts.*Run the command again to resume/);
    expect(hub.gets(graph).map((hit) => hit.range)).toEqual([undefined, "bytes=1000-", "bytes=2000-"]);
    expect((await stat(path.join(broken, `${graph}.partial`))).size).toBe(3_000);
    expect(await exists(path.join(broken, graph))).toBe(false);
  });

  it("fails on a size mismatch, naming the file and both sizes, leaving no file behind", async () => {
    const dir = await tempDir();
    hub.faults.set(graph, [{ body: randomBytes(graphSize + 123) }]);
    const error = await download(dir).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ModelDownloadError);
    expect(error).toMatchObject({ file: graph, code: "size-mismatch" });
    expect((error as Error).message).toContain(
      `${graph}: expected ${graphSize} bytes, got ${graphSize + 123}`,
    );
    expect(await exists(path.join(dir, graph))).toBe(false);
    expect(await exists(path.join(dir, `${graph}.partial`))).toBe(false);
  });

  it("explains a 404 with the pinned revision and a 401 with HF_TOKEN, without retrying", async () => {
    hub.faults.set(graph, [{ status: 404 }]);
    const dir = await tempDir();
    const notFound = await download(dir).catch((e: unknown) => e);
    expect(notFound).toMatchObject({ file: graph, code: "not-found", status: 404 });
    expect((notFound as Error).message).toContain(
      `not found in ${spec.repo} at pinned revision ${spec.revision}`,
    );
    expect(hub.gets(graph)).toHaveLength(1);
    expect(await exists(path.join(dir, `${graph}.partial`))).toBe(false);

    hub.reset();
    hub.faults.set(graph, [{ status: 401 }]);
    const denied = await download(await tempDir()).catch((e: unknown) => e);
    expect(denied).toMatchObject({ file: graph, code: "unauthorized", status: 401 });
    expect((denied as Error).message).toContain("set HF_TOKEN");
    expect(hub.gets(graph)).toHaveLength(1);
  });

  it("says what to do when the endpoint cannot be reached", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const dir = await tempDir();
    const events: DownloadProgress[] = [];
    const error = await download(dir, {
      endpoint: `http://127.0.0.1:${port}`,
      onProgress: (e) => events.push(e),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unreachable" });
    expect((error as Error).message).toBe(
      `Cannot reach http://127.0.0.1:${port} (ECONNREFUSED). Check your internet connection or proxy, ` +
        `or copy the model files into ${dir} (see \`tts models list\`).`,
    );
    expect(events.filter((e) => e.type === "retry")).toEqual([]);
  });

  it("stops when aborted, rejecting with the caller's reason", async () => {
    const controller = new AbortController();
    const reason = new Error("user pressed Ctrl-C");
    const error = await download(await tempDir(), {
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (e) => e.type === "progress" && controller.abort(reason),
    }).catch((e: unknown) => e);
    expect(error).toBe(reason);
  });

  it("does not retry a local failure such as an unwritable directory", async () => {
    const dir = path.join(await tempDir(), "not-a-directory");
    await writeFile(dir, "");
    const events: DownloadProgress[] = [];
    const error = await download(dir, { onProgress: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(ModelDownloadError);
    expect(error).toMatchObject({ code: "ENOTDIR" });
    expect(events.filter((e) => e.type === "retry")).toEqual([]);
  });

  it("reports missing and empty files from verifyModel", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "tokenizer.json"), "");
    const { ok, problems } = await verifyModel(spec, dir);
    expect(ok).toBe(false);
    expect(problems).toContain("empty: tokenizer.json");
    expect(problems).toContain(`missing: ${graph}`);
    expect(problems).toHaveLength(spec.files.length);
  });
});

describe("processes sharing one cache folder (tasks on an EFS volume)", () => {
  it("download it once: the second waits for the first, then finds every file in place", async () => {
    const dir = await tempDir();
    const events: DownloadProgress[] = [];
    const onProgress = (event: DownloadProgress) => events.push(event);
    const [first, second] = await Promise.all([
      download(dir, { lock: { pollMs: 20 }, onProgress }),
      download(dir, { lock: { pollMs: 20 }, onProgress }),
    ]);
    const results = [first, second].sort((a, b) => b.downloaded.length - a.downloaded.length);
    expect(results[0]).toMatchObject({ downloaded: spec.files.map((f) => f.path), skipped: [] });
    expect(results[1]).toMatchObject({ downloaded: [], skipped: spec.files.map((f) => f.path) });
    for (const file of spec.files) expect(hub.gets(file.path).length, file.path).toBeLessThanOrEqual(1);
    expect(hub.gets(graph)).toHaveLength(1);
    const waits = events.filter((e) => e.type === "warning").map((e) => e.message);
    expect(waits).toEqual([expect.stringMatching(/^Waiting for process \d+ on .* which is downloading/)]);
    expect(await exists(`${dir}.lock`)).toBe(false);
  });

  it("break a lock left by a process that died (not refreshed), and download", async () => {
    const dir = await tempDir();
    await writeFile(`${dir}.lock`, "process 1 on a-task-that-died");
    const old = new Date(Date.now() - 120_000);
    await utimes(`${dir}.lock`, old, old);
    const result = await download(dir, { lock: { staleMs: 60_000, pollMs: 20 } });
    expect(result.downloaded).toEqual(spec.files.map((f) => f.path));
    expect(await exists(`${dir}.lock`)).toBe(false);
  });
});

describe("download helpers", () => {
  it("parses Content-Range and Content-Length, reading anything malformed as unknown", () => {
    expect(parseContentRange("bytes 100-199/1000")).toEqual({ start: 100, total: 1000 });
    expect(parseContentRange(" bytes */1000 ")).toEqual({ start: undefined, total: 1000 });
    expect(parseContentRange("bytes 0-9/*")).toEqual({ start: 0, total: undefined });
    for (const bad of [undefined, "", "bytes 5/10", "items 0-9/10", "bytes 0-9/10x"]) {
      expect(parseContentRange(bad), String(bad)).toBeUndefined();
    }
    expect(parseContentLength("42")).toBe(42);
    for (const bad of [undefined, "", "-1", "1.5", "12 "]) {
      expect(parseContentLength(bad), String(bad)).toBeUndefined();
    }
  });

  it("reads the hub's hash headers as huggingface_hub does, never trusting a redirect's own ETag", () => {
    const sha = "a".repeat(64);
    const blob = "b".repeat(40);
    // An LFS file's 302: X-Linked-Etag is the file's SHA-256; the ETag is the pointer's and is ignored.
    expect(
      publishedFromHeaders(302, {
        "x-linked-etag": `"${sha.toUpperCase()}"`,
        "x-linked-size": "42",
        "x-repo-commit": "c0ffee",
        etag: `"${blob}"`,
        "content-length": "0",
      }),
    ).toEqual({ size: 42, hash: { kind: "sha256", value: sha }, source: "x-linked-etag", commit: "c0ffee" });
    expect(publishedFromHeaders(302, { etag: `"${blob}"`, "content-length": "0" })).toEqual({
      source: "none",
    });
    // A file served from git: its (possibly weak) ETag is the git blob id.
    expect(publishedFromHeaders(200, { etag: `W/"${blob}"`, "content-length": "7" })).toEqual({
      size: 7,
      hash: { kind: "git-blob-sha1", value: blob },
      source: "etag",
    });
    // A web server's own ETag is neither: no hash.
    expect(publishedFromHeaders(200, { etag: '"5f2b-1a0"', "content-length": "7" })).toEqual({
      size: 7,
      source: "none",
    });
    expect(nextPage('<https://hub.test/api/x?cursor=2>; rel="next"', "https://hub.test/api/x")).toBe(
      "https://hub.test/api/x?cursor=2",
    );
    // The listing is requested with the token: a next page elsewhere is not followed.
    expect(nextPage('<https://evil.test/x>; rel="next"', "https://hub.test/api/x")).toBeUndefined();
    expect(nextPage(undefined, "https://hub.test/api/x")).toBeUndefined();
  });

  it("doubles the retry delay per attempt, up to 30 s", () => {
    expect([1, 2, 3, 4].map((attempt) => backoffMs(500, attempt))).toEqual([500, 1_000, 2_000, 4_000]);
    expect(backoffMs(500, 8)).toBe(30_000);
  });
});

describe("createProgressReporter", () => {
  const events: DownloadProgress[] = [
    { type: "start", file: graph, bytes: 0, total: 10, overallBytes: 0, overallTotal: 10 },
    { type: "progress", file: graph, bytes: 5, total: 10, overallBytes: 5, overallTotal: 10 },
    { type: "retry", file: graph, attempt: 2, error: "other side closed", overallBytes: 5, overallTotal: 10 },
    { type: "file-done", file: graph, bytes: 10, total: 10, overallBytes: 10, overallTotal: 10 },
    { type: "done", overallBytes: 10, overallTotal: 10 },
  ];

  it("logs one JSON object per line off a TTY", () => {
    let output = "";
    const reporter = createProgressReporter({
      tty: false,
      write: (chunk) => (output += chunk),
      logIntervalMs: 0,
    });
    for (const event of events) reporter.onProgress(event);
    reporter.stop();

    const lines = output
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.event)).toEqual(["start", "progress", "retry", "file-done", "done"]);
    expect(lines[1]).toEqual({
      event: "progress",
      file: graph,
      bytes: 5,
      total: 10,
      overallBytes: 5,
      overallTotal: 10,
    });
  });

  it("draws bars on a TTY", () => {
    let output = "";
    const reporter = createProgressReporter({ tty: true, write: (chunk) => (output += chunk) });
    for (const event of events) reporter.onProgress(event);
    reporter.stop();
    expect(output).toContain("all files");
    expect(output).toContain(graph);
  });
});
