import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { listSupportedBackends, env as ortEnv } from "onnxruntime-node";

import type { RuntimeBackend } from "@tts/api";

/** Execution providers this service can select (`device`: auto|cpu|cuda). */
const SELECTABLE = ["cpu", "cuda"] as const;

/** The provider library that onnxruntime-node's opt-in CUDA install adds beside its binding. */
const CUDA_PROVIDER_LIBRARY = "libonnxruntime_providers_cuda.so";

export const GPU_INSTALL_HINT =
  "not installed: the default install is CPU-only; run `pnpm --filter @tts/inference gpu:install` " +
  "on a machine with CUDA 12 and cuDNN 9 (README: GPU (CUDA))";

/** What the native binding says it was built for; `bundled: false` providers ship as separate libraries. */
export interface SupportedBackend {
  name: string;
  bundled: boolean;
}

/** Where onnxruntime-node keeps its native binding, and where its GPU install puts the provider libraries. */
export function bindingDir(): string {
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  return path.join(path.dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch);
}

export function onnxRuntimeVersion(): string {
  return ortEnv.versions.node ?? ortEnv.versions.common;
}

/**
 * Which execution providers this node can create sessions on. CPU ships inside the npm package; CUDA is usable
 * only once its provider library has been installed (whether the driver accepts it is known at session creation).
 * Both inputs default to the real install; passing them lets either install state be checked on any host.
 */
export function listRuntimeBackends(
  binDir = bindingDir(),
  backends: readonly SupportedBackend[] = listSupportedBackends(),
): RuntimeBackend[] {
  const supported = new Map(backends.map((backend) => [backend.name, backend.bundled]));
  return SELECTABLE.filter((name) => supported.has(name)).map((name): RuntimeBackend => {
    if (supported.get(name)) return { name, available: true };
    const installed = name === "cuda" && existsSync(path.join(binDir, CUDA_PROVIDER_LIBRARY));
    return installed
      ? { name, available: true, detail: "provider library installed" }
      : { name, available: false, detail: GPU_INSTALL_HINT };
  });
}
