/**
 * Not-ready states an operator can act on: a model that fails to load is retried with backoff and /readyz and
 * `health` say which category of problem it is, with advice and without paths or raw errors.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { startEngineWorker } from "../../src/engine/engine";
import { createLogger } from "../../src/logger";
import { createInferenceNode, type InferenceNode } from "../../src/node";
import { startTestNode, typedClient } from "../support/node";
import { tinyBundle } from "../support/tiny";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("model that cannot load yet", () => {
  it("reports model-files with advice, retries, and turns ready once the files appear", async () => {
    const bundle = await tinyBundle({ variant: "turbo", stopAfter: 12 });
    // Settings as the suite's nodes have them, pointing at a folder that does not exist yet.
    const probe = await startTestNode();
    await probe.stop();
    const root = mkdtempSync(path.join(tmpdir(), "tts-later-"));
    const modelDir = path.join(root, "bundle");
    const lines: string[] = [];
    const node: InferenceNode = await createInferenceNode(
      {
        ...probe.settings,
        dataDir: path.join(root, "data"),
        model: { ...probe.settings.model, modelDir },
        loadRetryMs: { first: 50, max: 200 },
      },
      createLogger("info", { write: (line: string) => void lines.push(line) }),
    );
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    cleanups.push(() => node.shutdown());
    const url = `http://127.0.0.1:${await node.listen(0, "127.0.0.1")}`;

    await expect.poll(() => lines.some((line) => line.includes("model failed to load; retrying"))).toBe(true);
    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(503);
    const body = (await readyz.json()) as { status: string; category: string; advice: string };
    expect(body).toMatchObject({ status: "not-ready", category: "model-files" });
    expect(body.advice).toMatch(/tts models verify/);
    expect(JSON.stringify(body)).not.toContain(root);
    const health = await typedClient(url).health.query();
    expect(health.model).toMatchObject({ state: "failed", notReady: { category: "model-files" } });
    // The full error, path included, is in the log for the operator.
    expect(lines.some((line) => line.includes(modelDir))).toBe(true);

    cpSync(bundle.dir, modelDir, { recursive: true });
    await node.ready;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const attempts = lines.filter((line) => line.includes("model failed to load; retrying")).length;
    expect(attempts).toBeGreaterThanOrEqual(1);
    const ready = await typedClient(url).health.query();
    expect(ready.model).toMatchObject({ state: "ready", notReady: null, manifest: "absent" });
  });
});

describe("a node whose worker cannot be replaced", () => {
  it("is not ready and refuses work with 503 while it has no worker, and recovers when one starts", async () => {
    let spawnsFail = false;
    const t = await startTestNode({
      engineHooks: {
        spawnWorker: (config) =>
          spawnsFail ? Promise.reject(new Error("no memory for another worker")) : startEngineWorker(config),
        respawnDelayMs: { first: 50, max: 200 },
      },
    });
    cleanups.push(() => t.stop());
    const engine = t.node.engine()!;
    spawnsFail = true;
    engine.simulateWorkerExit();
    await expect.poll(() => engine.health().workers).toBe(0);
    const readyz = await fetch(`${t.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ category: "no-worker" });
    expect((await typedClient(t.url).health.query()).model.notReady).toMatchObject({ category: "no-worker" });
    const refused = await fetch(`${t.url}/trpc/tts.synthesize`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: "Hello." }),
    });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    spawnsFail = false;
    await expect.poll(() => engine.health().workers, { timeout: 10_000 }).toBe(1);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    const job = await t.client().tts.synthesize.mutate({ text: "Back again.", maxTokens: 4 });
    await expect.poll(async () => (await t.client().tts.get.query({ id: job.id })).status).toBe("done");
  });
});

describe("shutdown while the model loads", () => {
  it("waits for the workers being started and closes them, so none is ended inside ONNX Runtime", async () => {
    const probe = await startTestNode();
    await probe.stop();
    const root = mkdtempSync(path.join(tmpdir(), "tts-loading-"));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const exits: Promise<number>[] = [];
    const node = await createInferenceNode(
      {
        ...probe.settings,
        dataDir: path.join(root, "data"),
        engineHooks: {
          // The worker loads its sessions, then the engine start is held here: the model is still loading.
          spawnWorker: async (config) => {
            const started = await startEngineWorker(config);
            exits.push(new Promise((resolve) => started.worker.once("exit", resolve)));
            await gate;
            return started;
          },
        },
      },
      createLogger("silent"),
    );
    await node.listen(0, "127.0.0.1");
    await expect.poll(() => exits.length).toBe(1);

    let stopped = false;
    const shutdown = node.shutdown().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stopped).toBe(false);
    release();
    await shutdown;
    // The worker was told to exit and did, before shutdown returned (an abort would end the test process).
    expect(await Promise.race([exits[0], Promise.resolve("running")])).toBe(0);
    await node.ready.catch(() => undefined);
  });
});
