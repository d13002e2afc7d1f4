import { initTRPC, TRPCError } from "@trpc/server";
import { z, ZodError } from "zod";

import type { ApiContext } from "./context";
import { API_KEY_REQUIRED, HTTP_STATUS, internalErrorMessage, ServiceError, trpcCode } from "./errors";
import { procedureSpan } from "./tracing/procedure-span";

const t = initTRPC.context<ApiContext>().create({
  // Never send stack traces, whatever NODE_ENV says.
  isDev: false,
  // Zod failures reach clients as a flat field -> messages map next to the human-readable message.
  errorFormatter({ shape, error, ctx }) {
    const { stack: _stack, ...data } = shape.data;
    // An unexpected failure's message may hold paths, runtime errors or tokens: the log has it, the client gets
    // the request id to quote. Failures written for callers (ServiceError) and input errors pass through.
    const internal = error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof ServiceError);
    return {
      ...shape,
      message: internal ? internalErrorMessage(ctx?.requestId) : shape.message,
      data: {
        ...data,
        // 507 is a status tRPC has no code for: the node's responseMeta sends it, the shape says it too.
        ...(error.cause instanceof ServiceError && { httpStatus: HTTP_STATUS[error.cause.code] }),
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
        retryAfterSeconds:
          error.cause instanceof ServiceError ? (error.cause.retryAfterSeconds ?? null) : null,
      },
    };
  },
});

/** A service failure as the tRPC error with the same code and message; anything else unchanged. */
export function asTrpcError(error: unknown): unknown {
  const cause = error instanceof TRPCError ? error.cause : error;
  if (!(cause instanceof ServiceError)) return error;
  return new TRPCError({ code: trpcCode(cause.code), message: cause.message, cause });
}

/** Turns service failures into tRPC errors with the same code and message. */
const serviceErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof ServiceError) throw asTrpcError(result.error);
  return result;
});

/** A span per procedure call when tracing is on; outermost, so it sees what the caller gets. */
const traced = t.middleware(({ path, type, next }) => procedureSpan(path, type, () => next()));

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(traced).use(serviceErrors);

/**
 * Everything but `health` needs a credential when keys are configured: voices and jobs are users' data.
 * (`health`, like /readyz, describes only the node.)
 */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  const { principal } = ctx;
  if (!principal) throw new TRPCError({ code: "UNAUTHORIZED", message: API_KEY_REQUIRED });
  // Procedures pass `ctx.principal.id` to services as the owner of what they read and write.
  return next({ ctx: { ...ctx, principal } });
});
