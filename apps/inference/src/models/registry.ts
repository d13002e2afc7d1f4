import path from "node:path";

import { DTYPES, VARIANTS, type Dtype, type Variant } from "@tts/api";

import { DTYPE_SUFFIX, STAGES, type Stage } from "../engine/contract";

/** Which Chatterbox ONNX export, which precision, and where its files live (docs/model-contract.md). */

export interface ModelFile {
  /** Relative to the repository root, `/`-separated. */
  path: string;
  /** Bytes, when published; otherwise the server's length is trusted. */
  size?: number;
}

export interface ModelSpec {
  variant: Variant;
  dtype: Dtype;
  repo: string;
  revision: string;
  files: ModelFile[];
  /** The `.onnx` graph per stage; its `.onnx_data` sidecar sits beside it. */
  stageFiles: Record<Stage, string>;
}

export const DEFAULT_ENDPOINT = "https://huggingface.co";

interface RepoEntry {
  repo: string;
  /** Pinned, so an upstream push never changes what a given release downloads. */
  revision: string;
  rootFiles: readonly string[];
  /** Stages published in every dtype; the rest exist only in fp32. */
  dtypeStages: readonly Stage[];
  sizes: Readonly<Record<string, number>>;
}

const REPOS: Record<Variant, RepoEntry> = {
  turbo: {
    repo: "ResembleAI/chatterbox-turbo-ONNX",
    revision: "d21799bd0354adb85e348b8a0442a8405110a2cf",
    rootFiles: ["tokenizer.json", "tokenizer_config.json", "config.json", "generation_config.json"],
    dtypeStages: STAGES,
    sizes: {
      "onnx/speech_encoder_q4.onnx": 1_200_346,
      "onnx/speech_encoder_q4.onnx_data": 229_560_112,
      "onnx/embed_tokens_q4.onnx": 2_844,
      "onnx/embed_tokens_q4.onnx_data": 37_286_384,
      "onnx/language_model_q4.onnx": 274_572,
      "onnx/language_model_q4.onnx_data": 204_456_572,
      "onnx/conditional_decoder_q4.onnx": 2_179_022,
      "onnx/conditional_decoder_q4.onnx_data": 246_397_384,
    },
  },
  english: {
    repo: "onnx-community/chatterbox-ONNX",
    revision: "3cab09af388d3f02bba43443fce88c1f4525ac43",
    rootFiles: ["tokenizer.json", "default_voice.wav"],
    dtypeStages: ["language_model"],
    sizes: {},
  },
};

function isOneOf<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value);
}

/** Accepts untrusted input (CLI flags, config), so unknown names fail with the valid choices. */
export function resolveModel(variant: string, dtype: string): ModelSpec {
  if (!isOneOf(VARIANTS, variant)) {
    throw new Error(`Unknown model variant "${variant}": expected one of ${VARIANTS.join(", ")}`);
  }
  if (!isOneOf(DTYPES, dtype)) {
    throw new Error(`Unknown model dtype "${dtype}": expected one of ${DTYPES.join(", ")}`);
  }
  const entry = REPOS[variant];
  const stageFiles = Object.fromEntries(
    STAGES.map((stage) => {
      const suffix = entry.dtypeStages.includes(stage) ? DTYPE_SUFFIX[dtype] : "";
      return [stage, `onnx/${stage}${suffix}.onnx`];
    }),
  ) as Record<Stage, string>;
  const paths = [
    ...entry.rootFiles,
    ...STAGES.flatMap((stage) => [stageFiles[stage], `${stageFiles[stage]}_data`]),
  ];
  const files = paths.map((file): ModelFile => {
    const size = entry.sizes[file];
    return size === undefined ? { path: file } : { path: file, size };
  });
  return { variant, dtype, repo: entry.repo, revision: entry.revision, files, stageFiles };
}

export function fileUrl(spec: ModelSpec, file: string, endpoint = DEFAULT_ENDPOINT): string {
  return `${endpoint.replace(/\/+$/, "")}/${spec.repo}/resolve/${spec.revision}/${file}`;
}

export function defaultCacheDir({
  xdgCacheHome,
  homeDir,
}: {
  xdgCacheHome?: string;
  homeDir: string;
}): string {
  // The XDG spec says to ignore empty and relative values.
  const base = xdgCacheHome && path.isAbsolute(xdgCacheHome) ? xdgCacheHome : path.join(homeDir, ".cache");
  return path.join(base, "chatterbox-tts");
}

/** One directory per pinned revision, so an update never mixes files from two revisions. */
export function modelDir(cacheDir: string, spec: ModelSpec): string {
  return path.join(cacheDir, spec.repo.replace("/", "--"), spec.revision);
}

/** Where `file` (a `/`-separated repository path) lives inside a model directory. */
export function localFilePath(dir: string, file: string): string {
  return path.join(dir, ...file.split("/"));
}
