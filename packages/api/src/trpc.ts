import { initTRPC } from "@trpc/server";
import { z, ZodError } from "zod";

import type { ApiContext } from "./context";

const t = initTRPC.context<ApiContext>().create({
  // Zod failures reach clients as a flat field -> messages map next to the human-readable message.
  errorFormatter({ shape, error }) {
    return {
      ...shape,
      data: {
        ...shape.data,
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
      },
    };
  },
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure;
