import type { GenerationSettings } from "@tts/api";

import type { Variant } from "./contract";
import {
  ENGLISH_CFG_WEIGHT,
  ENGLISH_DEFAULTS,
  ENGLISH_EXAGGERATION,
  TURBO_DEFAULTS,
  type SamplingParams,
} from "./logits";
import type { GenerationOptions } from "./model";

export const DEFAULT_MAX_TOKENS = 1000;

export function resolveGeneration(
  variant: Variant,
  settings: GenerationSettings,
  seed: number,
): GenerationOptions {
  const defaults: SamplingParams = variant === "turbo" ? TURBO_DEFAULTS : ENGLISH_DEFAULTS;
  return {
    sampling: {
      temperature: settings.temperature ?? defaults.temperature,
      topK: settings.topK ?? defaults.topK,
      topP: settings.topP ?? defaults.topP,
      minP: settings.minP ?? defaults.minP,
      repetitionPenalty: settings.repetitionPenalty ?? defaults.repetitionPenalty,
      greedy: settings.greedy ?? false,
      penaltyLast: defaults.penaltyLast,
    },
    seed,
    maxTokens: settings.maxTokens ?? DEFAULT_MAX_TOKENS,
    exaggeration: settings.exaggeration ?? ENGLISH_EXAGGERATION,
    cfgWeight: settings.cfgWeight ?? ENGLISH_CFG_WEIGHT,
  };
}
