import { ServiceError, type GenerationSettings, type Variant } from "@tts/api";

import {
  ENGLISH_CFG_WEIGHT,
  ENGLISH_DEFAULTS,
  ENGLISH_EXAGGERATION,
  TURBO_DEFAULTS,
  type SamplingParams,
} from "./logits";
import type { GenerationOptions, Guidance } from "./model";
import { randomSeed } from "./rng";

export const DEFAULT_MAX_TOKENS = 1000;

/** A request's settings made final: what the model runs with, and what happens to its audio afterwards. */
export interface ResolvedSettings {
  generation: GenerationOptions;
  /** Time-stretch factor applied to the waveform (1 = as generated). */
  speed: number;
}

/**
 * The one place where a caller's settings meet the variant's defaults and a seed is chosen (a random one unless
 * given), so the seed can be reported and replayed. Every field of GenerationSettings is consumed below: adding
 * one to the schema without using it here fails to typecheck (`unused`).
 */
export function resolveSettings(
  variant: Variant,
  settings: GenerationSettings,
  /** The loaded model's guidance (default: English runs it); "none" makes English default to cfgWeight 0. */
  guidance: { mode: Guidance; problem?: string } = { mode: variant === "english" ? "cfg" : "none" },
): ResolvedSettings {
  const guided = variant !== "english" || guidance.mode === "cfg";
  if (!guided && (settings.cfgWeight ?? 0) > 0)
    throw new ServiceError(
      "BAD_REQUEST",
      `cfgWeight must be 0 on this model: its export cannot run classifier-free guidance as upstream does ` +
        `(${guidance.problem ?? "no text-position table"}). Leave cfgWeight out or send 0.`,
    );
  const {
    seed = randomSeed(),
    greedy = false,
    maxTokens = DEFAULT_MAX_TOKENS,
    temperature,
    topK,
    topP,
    minP,
    repetitionPenalty,
    exaggeration = ENGLISH_EXAGGERATION,
    cfgWeight = guided ? ENGLISH_CFG_WEIGHT : 0,
    speed = 1,
    ...unused
  } = settings;
  unused satisfies Record<string, never>;
  const defaults: SamplingParams = variant === "turbo" ? TURBO_DEFAULTS : ENGLISH_DEFAULTS;
  return {
    generation: {
      sampling: {
        temperature: temperature ?? defaults.temperature,
        topK: topK ?? defaults.topK,
        topP: topP ?? defaults.topP,
        minP: minP ?? defaults.minP,
        repetitionPenalty: repetitionPenalty ?? defaults.repetitionPenalty,
        greedy,
        penaltyLast: defaults.penaltyLast,
      },
      seed,
      maxTokens,
      exaggeration,
      cfgWeight,
    },
    speed,
  };
}
