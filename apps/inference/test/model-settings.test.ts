import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { parseEnv } from "../src/env";
import { ensureModel, modelSettingsFromEnv } from "../src/model-settings";

describe("modelSettingsFromEnv", () => {
  it("honours OMP_NUM_THREADS, and TTS_THREADS above it", () => {
    expect(modelSettingsFromEnv(parseEnv({ OMP_NUM_THREADS: "3" })).threads).toBe(3);
    expect(modelSettingsFromEnv(parseEnv({ OMP_NUM_THREADS: "3", TTS_THREADS: "2" })).threads).toBe(2);
    expect(modelSettingsFromEnv(parseEnv({})).threads).toBeGreaterThanOrEqual(1);
  });

  it("puts the cache under XDG_CACHE_HOME or ~/.cache unless TTS_CACHE_DIR says otherwise", () => {
    expect(modelSettingsFromEnv(parseEnv({ HOME: "/home/ada" })).cacheDir).toBe(
      "/home/ada/.cache/chatterbox-tts",
    );
    expect(modelSettingsFromEnv(parseEnv({ HOME: "/home/ada", XDG_CACHE_HOME: "/var/cache" })).cacheDir).toBe(
      "/var/cache/chatterbox-tts",
    );
    expect(modelSettingsFromEnv(parseEnv({ TTS_CACHE_DIR: "/models" })).cacheDir).toBe("/models");
  });

  it("loads a given model folder as is, without touching the network", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "bundle-"));
    const settings = modelSettingsFromEnv(
      parseEnv({ TTS_MODEL_DIR: dir, HF_ENDPOINT: "http://127.0.0.1:9" }),
    );
    await expect(ensureModel(settings)).resolves.toEqual({ dir, manifest: "absent" });
    await expect(ensureModel({ ...settings, modelDir: path.join(dir, "missing") })).rejects.toThrow(
      /does not exist/,
    );
  });
});
