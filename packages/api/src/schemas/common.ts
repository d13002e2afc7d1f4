import { z } from "zod";

/** Ids of stored voices and jobs: also the only thing that ever becomes part of a storage key. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

export const idSchema = z.string().regex(ID_PATTERN, "must be an id of 8-64 letters, digits, '_' or '-'");

export const byIdInput = z.object({ id: idSchema });

/** What `delete` procedures answer. */
export const deletedSchema = z.object({ id: idSchema, deleted: z.literal(true) });

// The lists every layer shares (env, CLI, engine, HTTP routes, storage, web app): each is written once, here.

/** Chatterbox variants the engine runs. */
export const VARIANTS = ["turbo", "english"] as const;
export const variantSchema = z.enum(VARIANTS);
export type Variant = z.infer<typeof variantSchema>;

/** Published weight precisions (file suffixes in the engine's model contract). */
export const DTYPES = ["fp32", "fp16", "q8", "q4", "q4f16"] as const;
export const dtypeSchema = z.enum(DTYPES);
export type Dtype = z.infer<typeof dtypeSchema>;

/** Where inference runs: `auto` tries CUDA and falls back to CPU. */
export const DEVICES = ["auto", "cpu", "cuda"] as const;
export const deviceSchema = z.enum(DEVICES);
export type Device = z.infer<typeof deviceSchema>;

/** Encodings the node produces for synthesized audio: OpenAI's `response_format` values, in its docs' order. */
export const AUDIO_FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"] as const;
export const audioFormatSchema = z.enum(AUDIO_FORMATS, {
  message: `must be one of ${AUDIO_FORMATS.join(", ")}`,
});
export type AudioFormat = z.infer<typeof audioFormatSchema>;
