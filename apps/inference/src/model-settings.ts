import { existsSync, statSync } from "node:fs";
import { availableParallelism, freemem } from "node:os";
import path from "node:path";

import type { Device, Dtype, Variant } from "@tts/api";

import { BundleError } from "./engine/bundle";
import { DTYPE_SUFFIX, STAGES } from "./engine/contract";
import type { LoadOptions } from "./engine/model";
import type { MatmulAccuracyLevel } from "./engine/sessions";
import { DEFAULT_STREAMING, type StreamingOptions } from "./engine/stream-decoder";
import type { InferenceEnv } from "./env";
import { downloadModel } from "./models/download";
import type { DownloadProgress } from "./models/download-progress";
import { defaultCacheDir, modelDir, resolveModel } from "./models/registry";
import { cacheMatchesManifest } from "./models/verify";

/** Everything that decides which model runs where: from the environment, overridden by CLI flags. */
export interface ModelSettings {
  variant: Variant;
  dtype: Dtype;
  device: Device;
  /** A bundle folder used as is; otherwise the pinned revision in the cache (downloaded when missing). */
  modelDir?: string;
  cacheDir: string;
  threads: number;
  workers: number;
  /** Syntheses per worker sharing decode steps (TTS_BATCH_ROWS). */
  batchRows: number;
  /** accuracy_level 4-bit MatMulNBits nodes run at (TTS_MATMUL_ACCURACY; default 4). */
  matmulAccuracyLevel?: MatmulAccuracyLevel;
  hfToken?: string;
  endpoint: string;
  streaming: StreamingOptions;
}

/** Threads one worker aims for under TTS_WORKERS=auto: a decode step gains little past a few threads. */
export const AUTO_THREADS_PER_WORKER = 4;
/** A worker's memory over its model files' size on disk (weights, prepacked kernels, arenas, KV caches). */
export const WORKER_MEMORY_FACTOR = 1.5;
/** Memory left to the rest of the process (HTTP, audio encoders, queued audio) before workers are counted. */
export const RESERVED_MEMORY_BYTES = 512 * 1024 * 1024;
/** Model size assumed when its files are not on disk yet (the published q4 Turbo bundle is ~0.95 GB). */
export const FALLBACK_MODEL_BYTES = 1_000_000_000;

export interface WorkerSizing {
  workers: number;
  threads: number;
  /** What bounded the worker count. */
  limitedBy: "cores" | "memory" | "configured";
}

/**
 * TTS_WORKERS=auto (pure, for tests): one worker per AUTO_THREADS_PER_WORKER cores (at least one), no more than
 * the available memory holds at WORKER_MEMORY_FACTOR x the model's size each (after RESERVED_MEMORY_BYTES);
 * each worker gets its share of the cores as intra-op threads unless `threads` (TTS_THREADS/OMP_NUM_THREADS)
 * says otherwise. A number for `workers` is kept as is.
 */
export function sizeWorkers(input: {
  workers: number | "auto";
  cores: number;
  availableMemoryBytes: number;
  modelBytes: number;
  threads?: number;
}): WorkerSizing {
  const cores = Math.max(1, Math.floor(input.cores));
  const share = (workers: number) => input.threads ?? Math.max(1, Math.floor(cores / workers));
  if (input.workers !== "auto") {
    return { workers: input.workers, threads: share(input.workers), limitedBy: "configured" };
  }
  const byCores = Math.max(1, Math.floor(cores / AUTO_THREADS_PER_WORKER));
  const perWorker = Math.max(1, input.modelBytes * WORKER_MEMORY_FACTOR);
  const byMemory = Math.max(1, Math.floor((input.availableMemoryBytes - RESERVED_MEMORY_BYTES) / perWorker));
  const workers = Math.min(byCores, byMemory);
  return { workers, threads: share(workers), limitedBy: byMemory < byCores ? "memory" : "cores" };
}

/**
 * Bytes on disk of the bundle's stage graphs and their sidecars for `dtype` (as stageFiles picks them), or
 * undefined when the folder does not hold them (not downloaded yet).
 */
export function modelBytesOnDisk(dir: string, dtype: Dtype): number | undefined {
  let total = 0;
  for (const stage of STAGES) {
    const file = [`onnx/${stage}${DTYPE_SUFFIX[dtype]}.onnx`, `onnx/${stage}.onnx`]
      .map((name) => path.join(dir, name))
      .find((candidate) => existsSync(candidate));
    if (!file) return undefined;
    total += statSync(file).size;
    if (existsSync(`${file}_data`)) total += statSync(`${file}_data`).size;
  }
  return total;
}

/** Memory this process may still use: the cgroup's limit when one applies, else the OS's free memory. */
function availableMemory(): number {
  const fromProcess = (process as { availableMemory?: () => number }).availableMemory?.();
  return fromProcess !== undefined && fromProcess > 0 ? fromProcess : freemem();
}

function expectedModelBytes(env: InferenceEnv, cacheDir: string): number {
  if (env.TTS_MODEL_DIR) return modelBytesOnDisk(env.TTS_MODEL_DIR, env.TTS_DTYPE) ?? FALLBACK_MODEL_BYTES;
  try {
    const spec = resolveModel(env.TTS_MODEL, env.TTS_DTYPE);
    const onDisk = modelBytesOnDisk(modelDir(cacheDir, spec), env.TTS_DTYPE);
    if (onDisk !== undefined) return onDisk;
    const published = spec.files.filter((file) => file.path.startsWith("onnx/"));
    if (published.length > 0 && published.every((file) => file.size !== undefined)) {
      return published.reduce((sum, file) => sum + file.size!, 0);
    }
  } catch {
    // An unknown variant or dtype fails later, where it is reported properly.
  }
  return FALLBACK_MODEL_BYTES;
}

export function modelSettingsFromEnv(env: InferenceEnv): ModelSettings {
  const cacheDir =
    env.TTS_CACHE_DIR ?? defaultCacheDir({ xdgCacheHome: env.XDG_CACHE_HOME, homeDir: env.HOME });
  // A pool of workers with a few threads each beats one wide worker on CPU: one decode step stops getting
  // faster past a few threads, while independent workers add up.
  const { workers, threads } = sizeWorkers({
    workers: env.TTS_WORKERS,
    cores: availableParallelism(),
    availableMemoryBytes: env.TTS_WORKERS === "auto" ? availableMemory() : 0,
    modelBytes: env.TTS_WORKERS === "auto" ? expectedModelBytes(env, cacheDir) : 0,
    threads: env.TTS_THREADS ?? env.OMP_NUM_THREADS,
  });
  return {
    variant: env.TTS_MODEL,
    dtype: env.TTS_DTYPE,
    device: env.TTS_DEVICE,
    modelDir: env.TTS_MODEL_DIR,
    cacheDir,
    threads,
    workers,
    batchRows: env.TTS_BATCH_ROWS,
    matmulAccuracyLevel: env.TTS_MATMUL_ACCURACY,
    hfToken: env.HF_TOKEN,
    endpoint: env.HF_ENDPOINT,
    streaming: {
      ...DEFAULT_STREAMING,
      firstChunkTokens: env.TTS_STREAM_FIRST_TOKENS,
      chunkTokens: env.TTS_STREAM_CHUNK_TOKENS,
      maxChunkTokens: 4 * env.TTS_STREAM_CHUNK_TOKENS,
    },
  };
}

/**
 * How to load the model, the same for `tts synth` and `tts serve`. A folder given as is (`--model-dir` or
 * TTS_MODEL_DIR) is taken for whatever variant its graphs are; the cache folder must hold the variant asked for.
 */
export function loadOptions(
  settings: ModelSettings,
): Pick<LoadOptions, "dtype" | "device" | "threads" | "variant" | "streaming" | "matmulAccuracyLevel"> {
  const { dtype, device, threads, modelDir, variant, streaming, matmulAccuracyLevel } = settings;
  return { dtype, device, threads, variant: modelDir ? undefined : variant, streaming, matmulAccuracyLevel };
}

/**
 * The folder to load: `modelDir` as given (it has no manifest: "absent"), or the cached pinned revision. The cache
 * is checked cheaply against its manifest (sizes and mtimes, rehashing only files whose mtime moved), so a
 * complete cache starts offline; anything missing or corrupt is downloaded (resumably) and verified against the
 * hub's hashes. A cache from an older version, without a manifest, is rehashed against the hub once.
 */
export async function ensureModel(
  settings: ModelSettings,
  onProgress?: (event: DownloadProgress) => void,
): Promise<{ dir: string; manifest: "verified" | "absent" }> {
  if (settings.modelDir) {
    if (!existsSync(settings.modelDir))
      throw new BundleError(`Model folder ${settings.modelDir} does not exist.`);
    return { dir: settings.modelDir, manifest: "absent" };
  }
  const spec = resolveModel(settings.variant, settings.dtype);
  const dir = modelDir(settings.cacheDir, spec);
  if (!(await cacheMatchesManifest(spec, dir))) {
    // Repairs what the check found: a corrupt file is deleted and fetched again, or the error names it.
    await downloadModel(spec, { dir, endpoint: settings.endpoint, token: settings.hfToken, onProgress });
  }
  return { dir, manifest: "verified" };
}
