import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";

import type { Variant } from "@tts/api";
import { encodeWav } from "@tts/audio";

import { DTYPE_SUFFIX, SAMPLE_RATE, STAGES } from "../engine/contract";
import { syntheticVoice } from "../engine/synthetic-voice";
import { buildTinyGraph, type TinyModelConfig } from "./tiny-graphs";
import { englishTokenizer, turboTokenizer } from "./tiny-tokenizer";

export interface TinyBundleOptions {
  variant: Variant;
  /** KV-cache element type; float16 bundles are written under the fp16 file names. */
  kvDtype?: "float32" | "float16";
  /** Generated speech tokens before the LM emits STOP (default 24); null never stops. */
  stopAfter?: number | null;
  seed?: number;
  /** English: text-position table in embed_tokens, as the real export has (default true). */
  textPositions?: boolean;
  hidden?: number;
  heads?: number;
  layers?: number;
}

export interface TinyBundle {
  dir: string;
  config: TinyModelConfig;
  files: string[];
}

async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const partial = `${file}.partial`;
  await writeFile(partial, data);
  await rename(partial, file);
}

/**
 * Writes a tiny-random bundle laid out like the real repositories: onnx/{stage}{suffix}.onnx with its
 * .onnx_data sidecar, tokenizer.json, default_voice.wav, and tiny.json describing how it was made.
 */
export async function makeTinyBundle(dir: string, options: TinyBundleOptions): Promise<TinyBundle> {
  const stopAfter = options.stopAfter === undefined ? 24 : options.stopAfter;
  // Checked at run time: a CLI parser's value reaches here unchecked (commander stores a parser's null as ""),
  // and a non-number would silently make the graph stop at once.
  if (stopAfter !== null && !(Number.isInteger(stopAfter) && stopAfter >= 0)) {
    throw new RangeError(`stopAfter must be a whole number >= 0 or null (got ${JSON.stringify(stopAfter)})`);
  }
  const tokenizer = options.variant === "turbo" ? turboTokenizer() : englishTokenizer();
  const config: TinyModelConfig = {
    variant: options.variant,
    hidden: options.hidden ?? 64,
    heads: options.heads ?? 4,
    layers: options.layers ?? 2,
    kvDtype: options.kvDtype ?? "float32",
    stopAfter,
    textVocab: tokenizer.vocabSize,
    seed: options.seed ?? 0,
    ...(options.textPositions === false && { textPositions: false }),
  };
  if (config.hidden % config.heads !== 0) throw new RangeError("hidden must be a multiple of heads");
  const suffix = DTYPE_SUFFIX[config.kvDtype === "float16" ? "fp16" : "fp32"];
  const files: string[] = [];
  for (const stage of STAGES) {
    const graphFile = `onnx/${stage}${suffix}.onnx`;
    // As in the real exports, the graph refers to its weights' sidecar by this exact file name.
    const sidecar = `${stage}${suffix}.onnx_data`;
    const { model, externalData } = buildTinyGraph(stage, config, sidecar);
    await writeAtomic(path.join(dir, graphFile), model);
    files.push(graphFile);
    if (externalData) {
      await writeAtomic(path.join(dir, "onnx", sidecar), externalData);
      files.push(`onnx/${sidecar}`);
    }
  }
  await writeAtomic(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer.json));
  await writeAtomic(path.join(dir, "default_voice.wav"), encodeWav(syntheticVoice(config.seed), SAMPLE_RATE));
  await writeAtomic(path.join(dir, "tiny.json"), JSON.stringify({ tinyRandom: true, ...config }, null, 2));
  files.push("tokenizer.json", "default_voice.wav", "tiny.json");
  return { dir, config, files };
}
