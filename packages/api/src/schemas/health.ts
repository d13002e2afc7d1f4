import { z } from "zod";

import { audioFormatSchema, dtypeSchema, variantSchema } from "./common";

export const runtimeBackendSchema = z.object({
  /** ONNX Runtime execution provider name, e.g. "cpu" or "cuda". */
  name: z.string(),
  /** True when this node can create sessions on it. */
  available: z.boolean(),
  /** Why it is unavailable, or what it runs on. */
  detail: z.string().optional(),
});
export type RuntimeBackend = z.infer<typeof runtimeBackendSchema>;

/** Why a node is not ready, as an operator would act on it; never a path or a raw error (those go to its log). */
export const NOT_READY_CATEGORIES = [
  "downloading",
  "loading",
  "hub-unreachable",
  "model-files",
  "no-worker",
  "draining",
  "failed",
] as const;
export const notReadyCategorySchema = z.enum(NOT_READY_CATEGORIES);
export type NotReadyCategory = z.infer<typeof notReadyCategorySchema>;
export const notReadySchema = z.object({ category: notReadyCategorySchema, advice: z.string() });
export type NotReady = z.infer<typeof notReadySchema>;

export const modelStatusSchema = z.object({
  /** "failed": the last attempt to load failed; the node retries with backoff (see notReady). */
  state: z.enum(["loading", "ready", "failed"]),
  variant: variantSchema,
  dtype: dtypeSchema,
  provider: z.string().nullable(),
  /** Null when ready to synthesize. */
  notReady: notReadySchema.nullable(),
  /**
   * "verified": the files match the hashes recorded when they were downloaded; "absent": a folder given with
   * TTS_MODEL_DIR, which has no manifest to check against; null until the files are found.
   */
  manifest: z.enum(["verified", "absent"]).nullable(),
  /**
   * "cfg": English runs classifier-free guidance exactly as upstream (cfgWeight defaults to 0.5); "none": no
   * guidance (Turbo; or an English export without a separate text-position table, where cfgWeight defaults to 0
   * and a request for more is refused, with `guidanceProblem` saying why). Null until the model is loaded.
   */
  guidance: z.enum(["cfg", "none"]).nullable(),
  guidanceProblem: z.string().nullable(),
});
export type ModelStatus = z.infer<typeof modelStatusSchema>;

/** What a client must respect before sending work: shown by UIs (character counts, upload sizes). */
export const limitsSchema = z.object({
  /** Characters `tts.synthesize` accepts in one text. */
  maxTextLength: z.number().int().positive(),
  /** Bytes one voice upload may have. */
  maxUploadBytes: z.number().int().positive(),
});
export type Limits = z.infer<typeof limitsSchema>;

export const queueStatusSchema = z.object({
  /** Jobs waiting for a worker. */
  queued: z.number().int().nonnegative(),
  /** Jobs being synthesized now. */
  running: z.number().int().nonnegative(),
});
export type QueueStatus = z.infer<typeof queueStatusSchema>;

export const healthOutputSchema = z.object({
  status: z.literal("ok"),
  service: z.string(),
  version: z.string(),
  uptimeSeconds: z.number().nonnegative(),
  onnxRuntime: z.object({
    version: z.string(),
    backends: z.array(runtimeBackendSchema),
  }),
  model: modelStatusSchema,
  /** The `format`s this node can produce (opus, aac and flac need ffmpeg on the node). */
  audioFormats: z.array(audioFormatSchema),
  limits: limitsSchema,
  queue: queueStatusSchema,
});
export type HealthOutput = z.infer<typeof healthOutputSchema>;
