import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { decodeWav } from "@tts/audio";

import { runCli } from "./support/cli";

const work = mkdtempSync(path.join(tmpdir(), "tts-cli-"));

describe("tts CLI: make-tiny and synth", () => {
  it.each(["turbo", "english"] as const)(
    "makes a tiny %s bundle and synthesizes a valid WAV and tokens file",
    async (variant) => {
      const bundle = path.join(work, variant);
      const made = await runCli([
        "models",
        "make-tiny",
        "--variant",
        variant,
        "--out",
        bundle,
        "--stop-after",
        "15",
      ]);
      expect(made.stderr).toBe("");
      expect(made.stdout).toMatch(new RegExp(`tiny-random ${variant} bundle \\(11 files, KV float32\\)`));

      const out = path.join(work, `${variant}.wav`);
      const tokensOut = path.join(work, `${variant}.json`);
      const seeded = [
        "synth",
        "--text",
        "Hello from the command line.",
        "--model-dir",
        bundle,
        "--dtype",
        "fp32",
        "--device",
        "cpu",
        "--seed",
        "5",
        "--out",
        out,
        "--tokens-out",
        tokensOut,
      ];
      const synth = await runCli(seeded);
      expect(synth.code).toBe(0);
      expect(synth.stdout).toMatch(new RegExp(`^${variant} on cpu: 15 tokens \\(stop-token\\)`));
      const tokens = JSON.parse(readFileSync(tokensOut, "utf8")) as number[];
      expect(tokens).toHaveLength(15);
      expect(tokens.every((t) => Number.isInteger(t) && t >= 0 && t < 8194)).toBe(true);
      const wav = decodeWav(readFileSync(out));
      expect(wav.sampleRate).toBe(24_000);
      expect(wav.encoding).toBe("pcm16");
      const codes = tokens.filter((t) => t < 6561).length;
      expect(wav.samples.length).toBe(960 * (codes + (variant === "turbo" ? 3 : 0)));

      // The same seed reproduces the same tokens.
      const again = await runCli(seeded);
      expect(again.code).toBe(0);
      expect(JSON.parse(readFileSync(tokensOut, "utf8"))).toEqual(tokens);
    },
  );

  it.each([
    ["never", 50, "max-tokens"],
    ["7", 7, "stop-token"],
  ] as const)("make-tiny --stop-after %s: synth gives %i tokens (%s)", async (stopAfter, count, reason) => {
    const bundle = path.join(work, `stop-after-${stopAfter}`);
    const made = await runCli([
      "models",
      "make-tiny",
      "--variant",
      "turbo",
      "--out",
      bundle,
      "--stop-after",
      stopAfter,
    ]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    const tokensOut = path.join(work, `stop-after-${stopAfter}.json`);
    const synth = await runCli([
      "synth",
      "--text",
      "How long does this go on?",
      "--model-dir",
      bundle,
      "--dtype",
      "fp32",
      "--device",
      "cpu",
      "--seed",
      "3",
      "--max-tokens",
      "50",
      "--out",
      path.join(work, `stop-after-${stopAfter}.wav`),
      "--tokens-out",
      tokensOut,
    ]);
    expect(synth.code).toBe(0);
    expect(synth.stdout).toMatch(new RegExp(`^turbo on cpu: ${count} tokens \\(${reason}\\)`));
    expect(JSON.parse(readFileSync(tokensOut, "utf8"))).toHaveLength(count);
  });

  it("explains bad input without a stack trace", async () => {
    const bundle = path.join(work, "turbo");
    const synth = (...extra: string[]) =>
      runCli([
        "synth",
        "--text",
        "x",
        "--model-dir",
        bundle,
        "--dtype",
        "fp32",
        "--out",
        path.join(work, "x.wav"),
        ...extra,
      ]);
    const notWav = await synth("--voice", "package.json");
    expect(notWav.code).toBe(1);
    expect(notWav.stderr).toBe("tts: Not a WAV file: it does not start with a RIFF/WAVE header.\n");
    const badParam = await synth("--top-p", "2");
    expect(badParam.code).toBe(2);
    expect(badParam.stderr).toMatch(/invalid settings:[^]*topP/);
    const missing = await runCli([
      "synth",
      "--text",
      "x",
      "--model-dir",
      path.join(work, "nope"),
      "--out",
      path.join(work, "x.wav"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^tts: Model folder .*nope does not exist\.\n$/);
    const noOut = await runCli(["synth", "--text", "x"]);
    expect(noOut.code).toBe(1);
    expect(noOut.stderr).toMatch(/required option '--out <file>' not specified/);
  });
});
