import { z } from "zod";

/** Ids of stored voices and jobs: also the only thing that ever becomes part of a storage key. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

export const idSchema = z.string().regex(ID_PATTERN, "must be an id of 8-64 letters, digits, '_' or '-'");

export const byIdInput = z.object({ id: idSchema });

export const audioFormatSchema = z.enum(["wav", "mp3", "pcm"]);
export type AudioFormat = z.infer<typeof audioFormatSchema>;

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
