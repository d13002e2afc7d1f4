import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";

import type { AppRouter } from "./root";

export { appRouter, createCaller, type AppRouter } from "./root";
export type { ApiContext, Principal, TtsService, VoiceService } from "./context";
export {
  API_KEY_REQUIRED,
  HTTP_STATUS,
  internalErrorMessage,
  ServiceError,
  trpcCode,
  type ServiceErrorCode,
} from "./errors";
export * from "./schemas/common";
export * from "./schemas/generation";
export * from "./schemas/health";
export * from "./schemas/tts";
export * from "./schemas/voices";

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
