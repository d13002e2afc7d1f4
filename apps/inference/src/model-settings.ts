import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";

import { BundleError } from "./engine/bundle";
import type { Dtype, Variant } from "./engine/contract";
import type { Device } from "./engine/sessions";
import type { InferenceEnv } from "./env";
import { downloadModel, verifyModel, type DownloadProgress } from "./models/download";
import { defaultCacheDir, modelDir, resolveModel } from "./models/registry";

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
}

export function modelSettingsFromEnv(env: InferenceEnv): ModelSettings {
  const workers = env.TTS_WORKERS;
  return {
    variant: env.TTS_MODEL,
    dtype: env.TTS_DTYPE,
    device: env.TTS_DEVICE,
    modelDir: env.TTS_MODEL_DIR,
    cacheDir: env.TTS_CACHE_DIR ?? defaultCacheDir({ xdgCacheHome: env.XDG_CACHE_HOME, homeDir: env.HOME }),
    // A pool of workers with a few threads each beats one wide worker on CPU (see DESIGN.md).
    threads:
      env.TTS_THREADS ?? env.OMP_NUM_THREADS ?? Math.max(1, Math.floor(availableParallelism() / workers)),
    workers,
    hfToken: env.HF_TOKEN,
    endpoint: env.HF_ENDPOINT,
  };
}

/**
 * The folder to load: `modelDir` as given, or the cached pinned revision, downloaded (resumably) first when any
 * file is missing.
 */
export async function ensureModel(
  settings: ModelSettings,
  onProgress?: (event: DownloadProgress) => void,
): Promise<string> {
  if (settings.modelDir) {
    if (!existsSync(settings.modelDir))
      throw new BundleError(`Model folder ${settings.modelDir} does not exist.`);
    return settings.modelDir;
  }
  const spec = resolveModel(settings.variant, settings.dtype);
  const dir = modelDir(settings.cacheDir, spec);
  // A complete cache needs no network: the node starts offline.
  if ((await verifyModel(spec, dir)).ok) return dir;
  await downloadModel(spec, { dir, endpoint: settings.endpoint, token: settings.hfToken, onProgress });
  return dir;
}
