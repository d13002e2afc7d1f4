import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { listRuntimeBackends } from "../src/onnx/backends";

describe("listRuntimeBackends", () => {
  it("reports CPU as available and CUDA as not installed on a default (CPU-only) install", () => {
    const backends = listRuntimeBackends();
    expect(backends.map((b) => b.name)).toEqual(["cpu", "cuda"]);
    expect(backends[0]).toEqual({ name: "cpu", available: true });
    expect(backends[1]).toMatchObject({ name: "cuda", available: false });
  });

  it("reports CUDA as available once its provider library is installed beside the binding", () => {
    const binDir = mkdtempSync(path.join(tmpdir(), "ort-bin-"));
    writeFileSync(path.join(binDir, "libonnxruntime_providers_cuda.so"), "");
    expect(listRuntimeBackends(binDir)[1]).toEqual({
      name: "cuda",
      available: true,
      detail: "provider library installed",
    });
  });
});
