import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";

import type { Device, Dtype, Variant } from "@tts/api";

import { BundleError } from "./engine/bundle";
import type { LoadOptions } from "./engine/model";
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
  hfToken?: string;
  endpoint: string;
  streaming: StreamingOptions;
}

export function modelSettingsFromEnv(env: InferenceEnv): ModelSettings {
  const workers = env.TTS_WORKERS;
  return {
    variant: env.TTS_MODEL,
    dtype: env.TTS_DTYPE,
    device: env.TTS_DEVICE,
    modelDir: env.TTS_MODEL_DIR,
    cacheDir: env.TTS_CACHE_DIR ?? defaultCacheDir({ xdgCacheHome: env.XDG_CACHE_HOME, homeDir: env.HOME }),
    // A pool of workers with a few threads each beats one wide worker on CPU: one decode step stops getting
    // faster past a few threads, while independent workers add up.
    threads:
      env.TTS_THREADS ?? env.OMP_NUM_THREADS ?? Math.max(1, Math.floor(availableParallelism() / workers)),
    workers,
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
): Pick<LoadOptions, "dtype" | "device" | "threads" | "variant" | "streaming"> {
  const { dtype, device, threads, modelDir, variant, streaming } = settings;
  return { dtype, device, threads, variant: modelDir ? undefined : variant, streaming };
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
