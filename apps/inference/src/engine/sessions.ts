import { readFile } from "node:fs/promises";
import path from "node:path";

import * as ort from "onnxruntime-node";

import type { Device, RuntimeBackend } from "@tts/api";

import { GPU_INSTALL_HINT, listRuntimeBackends } from "../onnx/backends";
import { mentionsMatmulNBits, setMatmulAccuracyLevel } from "../onnx/matmul-accuracy";
import { STAGES, type Stage } from "./contract";

export type Provider = "cpu" | "cuda";

/** MatMulNBits accuracy_level to run 4-bit graphs at: 4 (int8 activations) or the graph's own. */
export type MatmulAccuracyLevel = 4 | "graph";

export class DeviceError extends Error {
  override name = "DeviceError";
}

export interface SessionConfig {
  device: Device;
  /** ORT intra-op threads per session (0 lets ORT decide). */
  threads: number;
  log?: (message: string) => void;
  /** Rewrites MatMulNBits nodes to this accuracy_level before loading (default 4); "graph" keeps the export's. */
  matmulAccuracyLevel?: MatmulAccuracyLevel;
  /**
   * Intra-op threads spin-wait for work between runs (ORT's default) only when true. Off by default: a decode
   * loop alternates sessions and JS, and with several workers per machine spinning threads steal the cores
   * the other workers' threads need.
   */
  spinning?: boolean;
  /** The providers this node offers; defaults to the real install (injected to test either install state). */
  backends?: () => RuntimeBackend[];
  /** Opens one session; defaults to onnxruntime (injected to test a provider that is installed but fails). */
  openSession?: (file: string, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
}

type OpenConfig = Pick<SessionConfig, "threads" | "matmulAccuracyLevel" | "spinning">;

export function sessionOptions(provider: Provider, config: OpenConfig): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: config.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    // Config entries are strings; `extra` is flattened to `session.intra_op.allow_spinning`.
    extra: { session: { intra_op: { allow_spinning: config.spinning ? "1" : "0" } } },
  };
}

/**
 * Opens one graph file. With a MatMulNBits accuracy level to apply, the graph bytes are read and rewritten first
 * (see setMatmulAccuracyLevel), and ORT is told where the external-data sidecar lies since the model then comes
 * from memory; a graph without such nodes is opened from its path as is.
 */
export async function openGraph(
  file: string,
  options: ort.InferenceSession.SessionOptions,
  level: MatmulAccuracyLevel = 4,
): Promise<ort.InferenceSession> {
  if (level !== "graph") {
    const bytes = await readFile(file);
    if (mentionsMatmulNBits(bytes)) {
      const { model, nodes } = setMatmulAccuracyLevel(bytes, level);
      if (nodes > 0) {
        const extra = (options.extra ?? {}) as { session?: Record<string, unknown> };
        return ort.InferenceSession.create(model, {
          ...options,
          extra: {
            ...extra,
            session: { ...extra.session, model_external_initializers_file_folder_path: path.dirname(file) },
          },
        });
      }
    }
  }
  return ort.InferenceSession.create(file, options);
}

/** One stage's graph on `config.device`'s provider (cuda only when asked for), opened as createSessions would. */
export function openSessionFile(
  file: string,
  config: OpenConfig & { device: Device },
): Promise<ort.InferenceSession> {
  const provider: Provider = config.device === "cuda" ? "cuda" : "cpu";
  return openGraph(file, sessionOptions(provider, config), config.matmulAccuracyLevel);
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
    openSession = (file, opts) => openGraph(file, opts, config.matmulAccuracyLevel),
  } = config;
  const create = (stage: Stage, provider: Provider) =>
    openSession(files[stage], sessionOptions(provider, config));
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
