import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { runCli } from "./support/cli";
import { tinyBundle } from "./support/tiny";

const work = mkdtempSync(path.join(tmpdir(), "tts-cli-env-"));

describe("tts synth takes its model from the environment as `tts serve` does", () => {
  it("loads an English bundle named by TTS_MODEL_DIR while TTS_MODEL keeps its turbo default", async () => {
    const bundle = await tinyBundle({ variant: "english", stopAfter: 9 });
    const out = path.join(work, "english.wav");
    const tokensOut = path.join(work, "english.json");
    const synth = await runCli(
      ["synth", "--text", "From the environment.", "--greedy", "--out", out, "--tokens-out", tokensOut],
      { TTS_MODEL_DIR: bundle.dir, TTS_DTYPE: "fp32", TTS_DEVICE: "cpu", TTS_MODEL: "" },
    );
    expect(synth.stderr).toBe("");
    expect(synth.code).toBe(0);
    expect(synth.stdout).toMatch(/^english on cpu: 9 tokens \(stop-token\)/);
    expect(JSON.parse(readFileSync(tokensOut, "utf8"))).toHaveLength(9);
  });
});
