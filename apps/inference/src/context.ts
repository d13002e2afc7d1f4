import type { ApiContext } from "@tts/api";

import packageJson from "../package.json" with { type: "json" };
import { listRuntimeBackends, onnxRuntimeVersion } from "./onnx/backends";

export const SERVICE_NAME = "tts-inference";
export const SERVICE_VERSION = packageJson.version;

export function createApiContext(
  services: Pick<
    ApiContext,
    "model" | "audioFormats" | "limits" | "queue" | "audioLink" | "voiceLink" | "voices" | "tts"
  >,
): Omit<ApiContext, "principal" | "requestId"> {
  const backends = listRuntimeBackends();
  return {
    service: { name: SERVICE_NAME, version: SERVICE_VERSION, startedAt: Date.now() },
    onnxRuntime: { version: onnxRuntimeVersion(), backends: () => backends },
    now: Date.now,
    ...services,
  };
}
