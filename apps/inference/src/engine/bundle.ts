import { existsSync } from "node:fs";
import path from "node:path";

import type { InferenceSession } from "onnxruntime-node";

import { VARIANTS, type Dtype, type Variant } from "@tts/api";

import {
  CONTRACTS,
  DTYPE_SUFFIX,
  KV_TYPES,
  presentFor,
  STAGES,
  type Stage,
  type StageContract,
} from "./contract";

export class BundleError extends Error {
  override name = "BundleError";
}

/**
 * The graph file of each stage for a dtype. English publishes only its LM in quantized forms, so a stage
 * without a file of that dtype falls back to the fp32 one.
 */
export function stageFiles(dir: string, dtype: Dtype): Record<Stage, string> {
  const missing: string[] = [];
  const files = Object.fromEntries(
    STAGES.map((stage) => {
      const candidates = [`onnx/${stage}${DTYPE_SUFFIX[dtype]}.onnx`, `onnx/${stage}.onnx`];
      const found = candidates.find((file) => existsSync(path.join(dir, file)));
      if (!found) missing.push(candidates[0]!);
      return [stage, path.join(dir, found ?? candidates[0]!)];
    }),
  ) as Record<Stage, string>;
  if (missing.length > 0) {
    throw new BundleError(
      `Model files missing in ${dir}: ${missing.join(", ")}. Download them with \`tts models pull\` ` +
        "(or generate a test bundle with `tts models make-tiny`).",
    );
  }
  return files;
}

interface Port {
  name: string;
  type: string;
  shape: readonly (number | string)[];
}

function ports(metadata: readonly InferenceSession.ValueMetadata[]): Map<string, Port> {
  return new Map(
    metadata.map((m) => [
      m.name,
      { name: m.name, type: m.isTensor ? m.type : "non-tensor", shape: m.isTensor ? m.shape : [] },
    ]),
  );
}

/** Every way a session's ports differ from a stage contract, one human-readable line each. */
export function contractMismatches(
  stage: Stage,
  contract: StageContract,
  session: InferenceSession,
): string[] {
  const inputs = ports(session.inputMetadata);
  const outputs = ports(session.outputMetadata);
  const problems: string[] = [];
  const check = (kind: "input" | "output", have: Map<string, Port>, spec: StageContract["inputs"]) => {
    for (const want of spec) {
      const port = have.get(want.name);
      if (!port) problems.push(`${stage}: missing ${kind} \`${want.name}\``);
      else if (!want.types.includes(port.type as never)) {
        problems.push(
          `${stage}: ${kind} \`${want.name}\` is ${port.type}, expected ${want.types.join(" or ")}`,
        );
      }
    }
  };
  check("input", inputs, contract.inputs);
  check("output", outputs, contract.outputs);
  const known = new Set(contract.inputs.map((p) => p.name));
  const pastInputs = [...inputs.keys()].filter((name) => name.startsWith("past_key_values."));
  for (const name of inputs.keys()) {
    if (!known.has(name) && !(contract.kvCache && name.startsWith("past_key_values."))) {
      problems.push(`${stage}: unexpected input \`${name}\``);
    }
  }
  if (contract.kvCache) {
    if (pastInputs.length === 0) problems.push(`${stage}: no \`past_key_values.N.key/value\` inputs`);
    for (const name of pastInputs) {
      if (!KV_TYPES.includes(inputs.get(name)!.type as never))
        problems.push(`${stage}: \`${name}\` has unsupported type`);
      if (!outputs.has(presentFor(name)))
        problems.push(`${stage}: \`${name}\` has no matching output \`${presentFor(name)}\``);
    }
  }
  return problems;
}

/**
 * Decides the variant from the graphs themselves (Turbo and English differ in embed_tokens and the LM) and refuses
 * a bundle that matches neither, listing every mismatch against each candidate variant.
 */
export function detectVariant(sessions: Record<Stage, InferenceSession>, expected?: Variant): Variant {
  const candidates: readonly Variant[] = expected ? [expected] : VARIANTS;
  const results = candidates.map((variant) => ({
    variant,
    problems: STAGES.flatMap((stage) =>
      contractMismatches(stage, CONTRACTS[variant][stage], sessions[stage]),
    ),
  }));
  const match = results.find((r) => r.problems.length === 0);
  if (match) return match.variant;
  const report = results.map((r) => `As ${r.variant}:\n${r.problems.map((p) => `  - ${p}`).join("\n")}`);
  throw new BundleError(
    `These graphs do not form a Chatterbox ${expected ?? VARIANTS.join(" or ")} bundle (mixed or foreign files?).\n` +
      report.join("\n"),
  );
}

export interface KvLayout {
  /** `past_key_values.*` input names in graph order. */
  pastNames: string[];
  type: "float32" | "float16";
  heads: number;
  headDim: number;
}

/** Reads the KV cache layout from the LM's inputs instead of hard-coding layer count, heads or dtype. */
/** The width of the language model's input embeddings (its hidden size). */
export function embeddingWidth(lm: InferenceSession): number {
  const input = lm.inputMetadata.find((m) => m.name === "inputs_embeds");
  const width = input?.isTensor ? input.shape[2] : undefined;
  if (typeof width !== "number")
    throw new BundleError("language_model needs an inputs_embeds input with a fixed hidden size");
  return width;
}

export function kvLayout(lm: InferenceSession): KvLayout {
  const past = lm.inputMetadata.filter((m) => m.name.startsWith("past_key_values."));
  const first = past[0];
  if (!first?.isTensor) throw new BundleError("language_model has no tensor past_key_values inputs");
  const [, heads, , headDim] = first.shape;
  if (typeof heads !== "number" || typeof headDim !== "number") {
    throw new BundleError(
      `language_model KV inputs need fixed head count and size; got shape [${first.shape.join(", ")}]`,
    );
  }
  return { pastNames: past.map((m) => m.name), type: first.type as KvLayout["type"], heads, headDim };
}
