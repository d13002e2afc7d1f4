import type { ApiContext } from "../../context";
import type { HealthOutput } from "./health.schema";

export function healthHandler({ ctx }: { ctx: ApiContext }): HealthOutput {
  return {
    status: "ok",
    service: ctx.service.name,
    version: ctx.service.version,
    uptimeSeconds: Math.max(0, (ctx.now() - ctx.service.startedAt) / 1000),
    onnxRuntime: { version: ctx.onnxRuntime.version, backends: ctx.onnxRuntime.backends() },
    model: ctx.model(),
  };
}
