import { z } from "zod";

/**
 * Generation settings a caller may set; anything left out takes the variant's upstream default. Every field here
 * must be consumed where settings are resolved (the inference node's `resolveSettings`), which fails to typecheck
 * otherwise.
 */
/** Defaults the node applies to settings a request leaves out (UIs show them; the engine uses them). */
export const SETTING_DEFAULTS = Object.freeze({
  temperature: 0.8,
  speed: 1,
  /** English only: emotion intensity. */
  exaggeration: 0.5,
  /** English only: classifier-free guidance weight (0 turns guidance off). */
  cfgWeight: 0.5,
});

/** Turbo's paralinguistic tags: each is one token of its tokenizer, spoken as the sound it names. */
export const TURBO_TAGS = [
  "[laugh]",
  "[chuckle]",
  "[sigh]",
  "[gasp]",
  "[cough]",
  "[clear throat]",
  "[sniff]",
  "[groan]",
  "[shush]",
  "[whisper]",
  "[cry]",
  "[yawn]",
  "[hum]",
  "[scream]",
  "[breath]",
  "[inhale]",
  "[exhale]",
  "[pause]",
  "[mumble]",
] as const;

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
  /** Playback speed without a pitch change (time-stretched after synthesis). */
  speed: z
    .number()
    .min(0.25, "speed must be between 0.25 and 4")
    .max(4, "speed must be between 0.25 and 4")
    .optional(),
});

export type GenerationSettings = z.infer<typeof generationSettingsSchema>;

/** The keys of the settings, to move them out of a flat request into `settings` (see `withSettings`). */
const SETTING_KEYS = generationSettingsSchema.keyof().options;

/**
 * A flat request schema (the settings beside the request's own fields, as callers send them) whose parsed value
 * carries the settings as one object: `{ ...fields, settings }`. Requests are split here and only here.
 */
export function withSettings<Shape extends z.ZodRawShape>(shape: Shape) {
  return generationSettingsSchema.extend(shape).transform((flat) => {
    const settings: Record<string, unknown> = {};
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(flat)) {
      if ((SETTING_KEYS as readonly string[]).includes(key)) settings[key] = value;
      else fields[key] = value;
    }
    // The loop is what keeps the two apart at run time; the type says the same thing statically.
    return { ...fields, settings } as unknown as z.output<z.ZodObject<Shape>> & {
      settings: GenerationSettings;
    };
  });
}
