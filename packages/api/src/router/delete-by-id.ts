import type { ApiContext } from "../context";
import { byIdInput, deletedSchema } from "../schemas/common";
import { protectedProcedure } from "../trpc";

/** A `delete` procedure: removes by id (the service answers 404 for an unknown one) and echoes what it removed. */
export const deleteById = (remove: (owner: string, ctx: ApiContext, id: string) => Promise<void>) =>
  protectedProcedure
    .input(byIdInput)
    .output(deletedSchema)
    .mutation(async ({ ctx, input }) => {
      await remove(ctx.principal.id, ctx, input.id);
      return { id: input.id, deleted: true as const };
    });
