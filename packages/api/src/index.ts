import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";

import type { AppRouter } from "./root";

export { appRouter, createCaller, type AppRouter } from "./root";
export type { ApiContext, RuntimeBackend } from "./context";
export { healthOutputSchema, type HealthOutput } from "./router/health/health.schema";

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
