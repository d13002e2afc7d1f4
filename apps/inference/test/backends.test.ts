import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import {
  bindingDir,
  GPU_INSTALL_HINT,
  listRuntimeBackends,
  type SupportedBackend,
} from "../src/onnx/backends";

/** What the linux-x64 binding reports, CPU-only or GPU install alike: CUDA is compiled in, its library is not. */
const LINUX_BINDING: SupportedBackend[] = [
  { name: "cpu", bundled: true },
  { name: "webgpu", bundled: true },
  { name: "cuda", bundled: false },
  { name: "tensorrt", bundled: false },
];

const binDir = () => mkdtempSync(path.join(tmpdir(), "ort-bin-"));

describe("listRuntimeBackends", () => {
  it("reports CPU available and CUDA not installed, with how to install it, when its library is absent", () => {
    expect(listRuntimeBackends(binDir(), LINUX_BINDING)).toEqual([
      { name: "cpu", available: true },
      { name: "cuda", available: false, detail: GPU_INSTALL_HINT },
    ]);
    expect(GPU_INSTALL_HINT).toMatch(/pnpm --filter @tts\/inference gpu:install/);
  });

  it("reports CUDA available once its provider library is installed beside the binding", () => {
    const dir = binDir();
    writeFileSync(path.join(dir, "libonnxruntime_providers_cuda.so"), "");
    expect(listRuntimeBackends(dir, LINUX_BINDING)).toEqual([
      { name: "cpu", available: true },
      { name: "cuda", available: true, detail: "provider library installed" },
    ]);
  });

  it("lists only the selectable providers the binding was built with", () => {
    const macBinding = [
      { name: "cpu", bundled: true },
      { name: "coreml", bundled: true },
    ];
    expect(listRuntimeBackends(binDir(), macBinding)).toEqual([{ name: "cpu", available: true }]);
  });

  it("looks for provider libraries where onnxruntime-node keeps its binding by default", () => {
    expect(existsSync(path.join(bindingDir(), "onnxruntime_binding.node"))).toBe(true);
  });
});
