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

export const modelStatusSchema = z.object({
  state: z.enum(["loading", "ready", "failed"]),
  variant: variantSchema,
  dtype: dtypeSchema,
  provider: z.string().nullable(),
  error: z.string().nullable(),
});
export type ModelStatus = z.infer<typeof modelStatusSchema>;

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
});
export type HealthOutput = z.infer<typeof healthOutputSchema>;
