import * as ort from "onnxruntime-node";

import type { Device, RuntimeBackend } from "@tts/api";

import { GPU_INSTALL_HINT, listRuntimeBackends } from "../onnx/backends";
import { STAGES, type Stage } from "./contract";

export type Provider = "cpu" | "cuda";

export class DeviceError extends Error {
  override name = "DeviceError";
}

export interface SessionConfig {
  device: Device;
  /** ORT intra-op threads per session (0 lets ORT decide). */
  threads: number;
  log?: (message: string) => void;
  /** The providers this node offers; defaults to the real install (injected to test either install state). */
  backends?: () => RuntimeBackend[];
  /** Opens one session; defaults to onnxruntime (injected to test a provider that is installed but fails). */
  openSession?: (file: string, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
}

function options(provider: Provider, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
  };
}

/**
 * Creates the four sessions on one provider. onnxruntime does not fall back from ['cuda', 'cpu'] by itself, so
 * `auto` uses CUDA only when its provider is installed and a session really starts on it, else CPU with a log
 * line; `cuda` fails loudly.
 */
export async function createSessions(
  files: Record<Stage, string>,
  config: SessionConfig,
): Promise<{ sessions: Record<Stage, ort.InferenceSession>; provider: Provider }> {
  const [first, ...rest] = STAGES;
  const {
    backends = listRuntimeBackends,
    openSession = (file, opts) => ort.InferenceSession.create(file, opts),
  } = config;
  const create = (stage: Stage, provider: Provider) =>
    openSession(files[stage], options(provider, config.threads));
  const sessions: Partial<Record<Stage, ort.InferenceSession>> = {};
  let provider: Provider = "cpu";
  if (config.device !== "cpu") {
    const cuda = backends().find((backend) => backend.name === "cuda");
    try {
      if (!cuda?.available) throw new Error(`CUDA provider ${cuda?.detail ?? GPU_INSTALL_HINT}`);
      sessions[first] = await create(first, "cuda");
      provider = "cuda";
    } catch (error) {
      const reason = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
      if (config.device === "cuda") {
        throw new DeviceError(
          `device=cuda, but the CUDA execution provider cannot be used: ${reason}. Install the GPU build ` +
            "(`pnpm --filter @tts/inference gpu:install`, CUDA 12 + cuDNN 9) or use device=auto|cpu.",
        );
      }
      config.log?.(`CUDA unavailable (${reason}); falling back to CPU`);
    }
  }
  sessions[first] ??= await create(first, provider);
  for (const stage of rest) sessions[stage] = await create(stage, provider);
  return { sessions: sessions as Record<Stage, ort.InferenceSession>, provider };
}
