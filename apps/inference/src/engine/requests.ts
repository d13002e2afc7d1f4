import { z } from "zod";

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

/** Generation settings a caller may set; anything left out takes the variant's upstream default. */
export const generationSettingsSchema = z.object({
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  greedy: z.boolean().optional(),
  maxTokens: z.number().int().min(1).max(4000).optional(),
  temperature: z.number().gt(0).max(5).optional(),
  topK: z.number().int().min(0).optional(),
  topP: z.number().gt(0).max(1).optional(),
  minP: z.number().min(0).lt(1).optional(),
  repetitionPenalty: z.number().gt(0).max(10).optional(),
  exaggeration: z.number().min(0).max(2).optional(),
  cfgWeight: z.number().min(0).max(5).optional(),
});

export type GenerationSettings = z.infer<typeof generationSettingsSchema>;

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
