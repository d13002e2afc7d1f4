import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { parseEnv } from "../src/env";
import {
  AUTO_THREADS_PER_WORKER,
  ensureModel,
  modelBytesOnDisk,
  modelSettingsFromEnv,
  RESERVED_MEMORY_BYTES,
  sizeWorkers,
  WORKER_MEMORY_FACTOR,
} from "../src/model-settings";
import { makeTinyBundle } from "../src/tiny/make-tiny";

const GB = 1024 ** 3;

describe("sizeWorkers (TTS_WORKERS=auto)", () => {
  const roomy = { availableMemoryBytes: 256 * GB, modelBytes: 1 * GB };

  it("gives one worker per few cores, each with its share of the cores as threads", () => {
    expect(AUTO_THREADS_PER_WORKER).toBe(4);
    expect(sizeWorkers({ workers: "auto", cores: 1, ...roomy })).toEqual({
      workers: 1,
      threads: 1,
      limitedBy: "cores",
    });
    expect(sizeWorkers({ workers: "auto", cores: 2, ...roomy })).toEqual({
      workers: 1,
      threads: 2,
      limitedBy: "cores",
    });
    expect(sizeWorkers({ workers: "auto", cores: 8, ...roomy })).toEqual({
      workers: 2,
      threads: 4,
      limitedBy: "cores",
    });
    expect(sizeWorkers({ workers: "auto", cores: 18, ...roomy })).toEqual({
      workers: 4,
      threads: 4,
      limitedBy: "cores",
    });
    expect(sizeWorkers({ workers: "auto", cores: 64, ...roomy })).toMatchObject({ workers: 16, threads: 4 });
  });

  it("fits the workers' copies of the model into the available memory (at least one)", () => {
    const perWorker = 1 * GB * WORKER_MEMORY_FACTOR;
    const memory = RESERVED_MEMORY_BYTES + 3 * perWorker + 1;
    expect(sizeWorkers({ workers: "auto", cores: 32, availableMemoryBytes: memory, modelBytes: GB })).toEqual(
      {
        workers: 3,
        threads: 10,
        limitedBy: "memory",
      },
    );
    expect(sizeWorkers({ workers: "auto", cores: 32, availableMemoryBytes: GB, modelBytes: 4 * GB })).toEqual(
      {
        workers: 1,
        threads: 32,
        limitedBy: "memory",
      },
    );
  });

  it("lets TTS_THREADS/OMP_NUM_THREADS set the threads, and keeps a configured worker count", () => {
    expect(sizeWorkers({ workers: "auto", cores: 16, threads: 1, ...roomy })).toMatchObject({
      workers: 4,
      threads: 1,
    });
    expect(sizeWorkers({ workers: 3, cores: 16, ...roomy })).toEqual({
      workers: 3,
      threads: 5,
      limitedBy: "configured",
    });
    expect(sizeWorkers({ workers: 32, cores: 16, ...roomy })).toEqual({
      workers: 32,
      threads: 1,
      limitedBy: "configured",
    });
    expect(sizeWorkers({ workers: 2, cores: 16, threads: 6, ...roomy })).toMatchObject({
      workers: 2,
      threads: 6,
    });
  });

  it("reads a bundle's size on disk (graphs and sidecars), undefined when it is not there", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sized-"));
    expect(modelBytesOnDisk(dir, "fp32")).toBeUndefined();
    const bundle = await makeTinyBundle(dir, { variant: "turbo" });
    const bytes = modelBytesOnDisk(bundle.dir, "q4");
    expect(bytes).toBeGreaterThan(100_000);
    const settings = modelSettingsFromEnv(parseEnv({ TTS_MODEL_DIR: dir, TTS_DTYPE: "fp32" }));
    expect(settings.workers).toBeGreaterThanOrEqual(1);
    expect(settings.matmulAccuracyLevel).toBe(4);
    expect(modelSettingsFromEnv(parseEnv({ TTS_WORKERS: "3", TTS_THREADS: "2" }))).toMatchObject({
      workers: 3,
      threads: 2,
    });
    expect(modelSettingsFromEnv(parseEnv({ TTS_MATMUL_ACCURACY: "graph" })).matmulAccuracyLevel).toBe(
      "graph",
    );
  });
});

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
