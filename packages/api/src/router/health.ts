import { healthOutputSchema } from "../schemas/health";
import { publicProcedure } from "../trpc";

/** Liveness and what this node runs: version, uptime, ONNX Runtime backends, model state, audio formats,
 * limits and queue length. */
export const healthProcedure = publicProcedure.output(healthOutputSchema).query(({ ctx }) => ({
  status: "ok" as const,
  service: ctx.service.name,
  version: ctx.service.version,
  uptimeSeconds: Math.max(0, (ctx.now() - ctx.service.startedAt) / 1000),
  onnxRuntime: { version: ctx.onnxRuntime.version, backends: ctx.onnxRuntime.backends() },
  model: ctx.model(),
  audioFormats: ctx.audioFormats,
  limits: ctx.limits,
  queue: ctx.queue(),
}));
