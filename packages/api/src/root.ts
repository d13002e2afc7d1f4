import { healthProcedure } from "./router/health";
import { ttsRouter } from "./router/tts";
import { voicesRouter } from "./router/voices";
import { createCallerFactory, createTRPCRouter } from "./trpc";

export const appRouter = createTRPCRouter({
  health: healthProcedure,
  voices: voicesRouter,
  tts: ttsRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
