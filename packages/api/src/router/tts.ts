import { byIdInput } from "../schemas/common";
import { jobSchema, listJobsInput, synthesizeInput } from "../schemas/tts";
import { asTrpcError, createTRPCRouter, protectedProcedure } from "../trpc";
import { deleteById } from "./delete-by-id";

export const ttsRouter = createTRPCRouter({
  /** Queues a synthesis; returns the job at once (`queued`). Follow it with `progress`, fetch it with `get`. */
  synthesize: protectedProcedure
    .input(synthesizeInput)
    .output(jobSchema)
    .mutation(({ ctx, input }) => ctx.tts.synthesize(ctx.principal.id, input)),
  get: protectedProcedure
    .input(byIdInput)
    .output(jobSchema)
    .query(({ ctx, input }) => ctx.tts.get(ctx.principal.id, input.id)),
  list: protectedProcedure
    .input(listJobsInput)
    .output(jobSchema.array())
    .query(({ ctx, input }) => ctx.tts.list(ctx.principal.id, input.limit)),
  delete: deleteById((owner, ctx, id) => ctx.tts.delete(owner, id)),
  /** Server-sent events: queue position, tokens generated, audio seconds, then done or failed. */
  progress: protectedProcedure.input(byIdInput).subscription(async function* ({ ctx, input, signal }) {
    try {
      yield* ctx.tts.progress(ctx.principal.id, input.id, signal ?? new AbortController().signal);
    } catch (error) {
      // Thrown while streaming, after the middleware has returned: mapped here (404 for an unknown id).
      throw asTrpcError(error);
    }
  }),
});
