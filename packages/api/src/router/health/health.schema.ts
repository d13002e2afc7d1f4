import { z } from "zod";

export const runtimeBackendSchema = z.object({
  name: z.string(),
  available: z.boolean(),
  detail: z.string().optional(),
});

export const healthOutputSchema = z.object({
  status: z.literal("ok"),
  service: z.string(),
  version: z.string(),
  uptimeSeconds: z.number().nonnegative(),
  onnxRuntime: z.object({
    version: z.string(),
    backends: z.array(runtimeBackendSchema),
  }),
  model: z.object({
    state: z.enum(["loading", "ready", "failed"]),
    variant: z.string(),
    dtype: z.string(),
    provider: z.string().nullable(),
    error: z.string().nullable(),
  }),
});

export type HealthOutput = z.infer<typeof healthOutputSchema>;
