import { byIdInput } from "../schemas/common";
import { audioLinkSchema } from "../schemas/tts";
import { createVoiceInput, renameVoiceInput, voiceSchema } from "../schemas/voices";
import { createTRPCRouter, protectedProcedure } from "../trpc";
import { deleteById } from "./delete-by-id";

export const voicesRouter = createTRPCRouter({
  /** Multipart upload: `file` (any WAV the audio package decodes) and an optional `name`. */
  create: protectedProcedure
    .input(createVoiceInput)
    .output(voiceSchema)
    .mutation(({ ctx, input }) => ctx.voices.create(ctx.principal.id, input)),
  list: protectedProcedure.output(voiceSchema.array()).query(({ ctx }) => ctx.voices.list(ctx.principal.id)),
  get: protectedProcedure
    .input(byIdInput)
    .output(voiceSchema)
    .query(({ ctx, input }) => ctx.voices.get(ctx.principal.id, input.id)),
  rename: protectedProcedure
    .input(renameVoiceInput)
    .output(voiceSchema)
    .mutation(({ ctx, input }) => ctx.voices.rename(ctx.principal.id, input.id, input.name)),
  /** A URL to listen to the voice as the model hears it (trimmed, 24 kHz, normalized): a WAV, signed like results. */
  audioLink: protectedProcedure
    .input(byIdInput)
    .output(audioLinkSchema)
    .query(async ({ ctx, input }) => {
      await ctx.voices.get(ctx.principal.id, input.id);
      return ctx.voiceLink(ctx.principal.id, input.id);
    }),
  delete: deleteById((owner, ctx, id) => ctx.voices.delete(owner, id)),
});
