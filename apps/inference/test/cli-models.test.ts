import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { modelDir } from "../src/models/registry";
import { runCli } from "./support/cli";
import { FakeHub, fakeSpec } from "./support/fake-hub";

// English fp32 publishes no sizes in the registry, so the fake repository can serve small files.
const { spec, contents } = fakeSpec("english", "fp32");
const hub = new FakeHub(spec, contents);
const cacheDir = mkdtempSync(path.join(tmpdir(), "tts-cache-"));
const flags = () => [
  "--model",
  "english",
  "--dtype",
  "fp32",
  "--cache-dir",
  cacheDir,
  "--endpoint",
  hub.endpoint,
];

beforeAll(() => hub.start());
afterAll(() => hub.stop());

describe("tts models pull / verify against a local fake repository", () => {
  it("downloads every file, resuming one whose connection drops mid-file, then verifies", async () => {
    const graph = spec.stageFiles.language_model;
    hub.faults.set(`${graph}_data`, [{ drop: 1_000 }]);
    const pulled = await runCli(["models", "pull", ...flags()]);
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(new RegExp(`${spec.files.length} downloaded, 0 already present, verified`));
    const resumed = hub.gets(`${graph}_data`);
    expect(resumed.map((hit) => hit.range)).toEqual([undefined, "bytes=1000-"]);
    expect(resumed[1]?.status).toBe(206);
    // Non-TTY progress is structured: one JSON object per line.
    const events = pulled.stderr
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event: string });
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining(["start", "retry", "file-done", "done"]),
    );

    const dir = modelDir(cacheDir, spec);
    for (const [file, content] of contents)
      expect(readFileSync(path.join(dir, file)).equals(content)).toBe(true);
    const verified = await runCli(["models", "verify", ...flags()]);
    expect(verified.code).toBe(0);
    for (const file of spec.files) expect(verified.stdout).toContain(`ok        ${file.path}\n`);
    expect(verified.stdout).toMatch(`ok: ${spec.files.length} files verified`);
  });

  it("a second pull downloads nothing; verify names a damaged file, and pull replaces it", async () => {
    hub.reset();
    const again = await runCli(["models", "pull", ...flags()]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(`0 downloaded, ${spec.files.length} already present`);
    expect(hub.gets()).toEqual([]);
    expect(hub.treeRequests).toEqual([]);

    const size = contents.get("tokenizer.json")?.length ?? 0;
    writeFileSync(path.join(modelDir(cacheDir, spec), "tokenizer.json"), "");
    const damaged = await runCli(["models", "verify", ...flags()]);
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toContain(
      `MISMATCH  tokenizer.json: size is 0 bytes, the manifest says ${size}\n`,
    );
    expect(damaged.stderr).toMatch(
      /^tts: 1 of \d+ files failed verification in .*: tokenizer\.json\. Run `tts models pull`/,
    );

    const repaired = await runCli(["models", "pull", ...flags()]);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(`1 downloaded, ${spec.files.length - 1} already present, verified ->`);
    expect((await runCli(["models", "verify", ...flags()])).code).toBe(0);
  });

  it("says what to do when the repository cannot be reached", async () => {
    const offline = await runCli([
      "models",
      "pull",
      "--model",
      "english",
      "--dtype",
      "q4",
      "--cache-dir",
      mkdtempSync(path.join(tmpdir(), "tts-cache-")),
      "--endpoint",
      "http://127.0.0.1:9",
    ]);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/tts: Cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/);
  });

  it("checks a TTS_MODEL_DIR folder for presence only, saying it has no manifest", async () => {
    const folder = mkdtempSync(path.join(tmpdir(), "tts-bundle-"));
    const [missing, ...present] = spec.files.map((f) => f.path);
    for (const file of present) {
      mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
      writeFileSync(path.join(folder, file), contents.get(file) ?? "");
    }
    const env = { TTS_MODEL_DIR: folder };
    const incomplete = await runCli(["models", "verify", "--model", "english", "--dtype", "fp32"], env);
    expect(incomplete.stdout.split("\n")[0]).toBe(
      "no manifest: this folder was not downloaded by tts; only presence and sizes can be checked",
    );
    expect(incomplete.stdout).toContain(`missing   ${missing}\n`);
    expect(incomplete.code).toBe(1);
    expect(incomplete.stderr).toMatch(`failed verification in ${folder}: ${missing}.`);

    writeFileSync(path.join(folder, missing ?? ""), contents.get(missing ?? "") ?? "");
    const complete = await runCli(["models", "verify", "--model", "english", "--dtype", "fp32"], env);
    expect(complete.code).toBe(0);
    expect(complete.stdout).toMatch(`ok: ${spec.files.length} files present in ${folder}`);
  });
});
