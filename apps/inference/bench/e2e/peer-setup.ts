// The peer (transformers.js) stays out of the workspace's install: it is installed on demand with npm into
// <repo>/.cache/bench-peer (ignored by git, like all of .cache/), and loaded from there by absolute path.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";

export const PEER_PACKAGE = "@huggingface/transformers";
export const PEER_VERSION = "4.3.1";

export type PeerAvailability =
  { ok: true; module: string; installed: boolean } | { ok: false; reason: string };

function installedModule(cacheDir: string): string | undefined {
  const pkgDir = path.join(cacheDir, "node_modules", ...PEER_PACKAGE.split("/"));
  const pkgFile = path.join(pkgDir, "package.json");
  if (!existsSync(pkgFile)) return undefined;
  const pkg = JSON.parse(readFileSync(pkgFile, "utf8")) as { version?: string };
  if (pkg.version !== PEER_VERSION) return undefined;
  const entry = path.join(pkgDir, "dist", "transformers.node.mjs");
  return existsSync(entry) ? entry : undefined;
}

/** The peer's entry module, installing it first when `install` allows; else why it is not there. */
export function ensurePeer(
  cacheDir: string,
  install: boolean,
  log: (line: string) => void,
): PeerAvailability {
  const found = installedModule(cacheDir);
  if (found) return { ok: true, module: found, installed: false };
  if (!install)
    return { ok: false, reason: `${PEER_PACKAGE}@${PEER_VERSION} is not installed in ${cacheDir}` };
  mkdirSync(cacheDir, { recursive: true });
  const manifest = path.join(cacheDir, "package.json");
  if (!existsSync(manifest))
    writeFileSync(manifest, JSON.stringify({ name: "bench-peer", private: true }) + "\n");
  log(`installing ${PEER_PACKAGE}@${PEER_VERSION} into ${cacheDir} (npm, once) ...`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(
    npm,
    [
      "install",
      "--prefix",
      cacheDir,
      `${PEER_PACKAGE}@${PEER_VERSION}`,
      "--save-exact",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ],
    {
      encoding: "utf8",
      timeout: 600_000,
      // onnxruntime-node's postinstall would fetch CUDA binaries from nuget.org (unreachable offline); its CPU
      // build is inside the npm package, which is all the bench uses.
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" },
    },
  );
  if (result.error) return { ok: false, reason: `npm could not run: ${result.error.message}` };
  if (result.status !== 0) {
    // npm's first error lines say what happened (code, errno, the URL it could not reach).
    const lines = `${result.stderr}${result.stdout}`
      .split("\n")
      .map((line) => line.replace(/^npm (error|ERR!)\s*/, "").trim())
      .filter(Boolean);
    return {
      ok: false,
      reason: `npm install failed (exit ${result.status}): ${lines.slice(0, 4).join(" | ")}`,
    };
  }
  const module = installedModule(cacheDir);
  return module
    ? { ok: true, module, installed: true }
    : { ok: false, reason: `npm install finished but ${PEER_PACKAGE}@${PEER_VERSION} is not in ${cacheDir}` };
}

export interface PeerModelShape {
  variant: "turbo" | "english";
  layers: number;
  heads: number;
  headDim: number;
  hidden: number;
}

/**
 * A folder transformers.js can load: the config files it reads (written here, from the graphs' own shapes) and
 * links to the bundle's onnx/ folder and tokenizer.json, so the bundle itself is left untouched.
 *  - config.json: model_type "chatterbox" (its ChatterboxModel's type) and a text_config it normalizes to find
 *    the KV cache's layer count, heads and head size for the empty cache it feeds the first LM call.
 *    English is a Llama backbone, Turbo a GPT-2 one.
 *  - generation_config.json: START/STOP speech ids (STOP ends generation).
 *  - preprocessor_config.json: what its ChatterboxProcessor/AutoProcessor reads (24 kHz audio).
 */
export function writePeerFolder(bundle: string, dir: string, shape: PeerModelShape): void {
  mkdirSync(dir, { recursive: true });
  const textConfig =
    shape.variant === "english"
      ? {
          model_type: "llama",
          hidden_size: shape.hidden,
          num_attention_heads: shape.heads,
          num_key_value_heads: shape.heads,
          num_hidden_layers: shape.layers,
          head_dim: shape.headDim,
        }
      : {
          model_type: "gpt2",
          // Only used to derive the head size (n_embd / n_head).
          n_embd: shape.heads * shape.headDim,
          n_head: shape.heads,
          n_layer: shape.layers,
        };
  const config = {
    architectures: ["ChatterboxModel"],
    model_type: "chatterbox",
    text_config: textConfig,
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  writeFileSync(
    path.join(dir, "generation_config.json"),
    JSON.stringify({ bos_token_id: 6561, eos_token_id: 6562, pad_token_id: 6562 }, null, 2),
  );
  writeFileSync(
    path.join(dir, "preprocessor_config.json"),
    JSON.stringify(
      {
        feature_extractor_type: "ChatterboxFeatureExtractor",
        processor_class: "ChatterboxProcessor",
        sampling_rate: 24000,
      },
      null,
      2,
    ),
  );
  for (const name of ["onnx", "tokenizer.json"]) {
    const target = path.join(dir, name);
    if (!existsSync(target) && existsSync(path.join(bundle, name))) {
      symlinkSync(path.resolve(bundle, name), target);
    }
  }
}
