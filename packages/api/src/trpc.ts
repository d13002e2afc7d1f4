import { initTRPC, TRPCError } from "@trpc/server";
import { z, ZodError } from "zod";

import type { ApiContext } from "./context";
import { API_KEY_REQUIRED, ServiceError } from "./errors";

const t = initTRPC.context<ApiContext>().create({
  // Never send stack traces, whatever NODE_ENV says.
  isDev: false,
  // Zod failures reach clients as a flat field -> messages map next to the human-readable message.
  errorFormatter({ shape, error }) {
    const { stack: _stack, ...data } = shape.data;
    return {
      ...shape,
      data: {
        ...data,
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
        retryAfterSeconds:
          error.cause instanceof ServiceError ? (error.cause.retryAfterSeconds ?? null) : null,
      },
    };
  },
});

/** Turns service failures into tRPC errors with the same code and message. */
const serviceErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof ServiceError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: cause.code, message: cause.message, cause });
  }
  return result;
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(serviceErrors);

/**
 * Everything but `health` needs a credential when keys are configured: voices and jobs are users' data.
 * (`health`, like /readyz, describes only the node.)
 */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.authorized) {
    throw new TRPCError({
      code: "UNAUTHORIZED",
      message: API_KEY_REQUIRED,
    });
  }
  return next();
});
