import type { ApiContext } from "@tts/api";

import packageJson from "../package.json" with { type: "json" };
import { listRuntimeBackends, onnxRuntimeVersion } from "./onnx/backends";

export const SERVICE_NAME = "tts-inference";

export function createApiContext(): ApiContext {
  const backends = listRuntimeBackends();
  return {
    service: { name: SERVICE_NAME, version: packageJson.version, startedAt: Date.now() },
    onnxRuntime: { version: onnxRuntimeVersion(), backends: () => backends },
    now: Date.now,
  };
}
