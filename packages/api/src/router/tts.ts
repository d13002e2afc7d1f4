import { ServiceError } from "../errors";
import { byIdInput } from "../schemas/common";
import { audioLinkInput, audioLinkSchema, jobSchema, listJobsInput, synthesizeInput } from "../schemas/tts";
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
  /** Stops a queued or running job; it stays listed as `cancelled`. Ended jobs are returned unchanged. */
  cancel: protectedProcedure
    .input(byIdInput)
    .output(jobSchema)
    .mutation(({ ctx, input }) => ctx.tts.cancel(ctx.principal.id, input.id)),
  /**
   * A URL for an audio element or a download link: it follows the job while it runs, then serves the stored
   * file. With credentials on the node it is signed for this one result, so it needs no header.
   */
  audioLink: protectedProcedure
    .input(audioLinkInput)
    .output(audioLinkSchema)
    .query(async ({ ctx, input }) => {
      // Unknown and others' ids, and jobs that ended without audio, are a 404 here, not a link that fails later.
      const job = await ctx.tts.get(ctx.principal.id, input.id);
      if (job.status === "failed" || job.status === "cancelled")
        throw new ServiceError("NOT_FOUND", `Job ${job.id} was ${job.status}; it has no audio.`);
      const link = ctx.audioLink(ctx.principal.id, input.id, input.format);
      return input.download
        ? { ...link, url: `${link.url}${link.url.includes("?") ? "&" : "?"}download=1` }
        : link;
    }),
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
