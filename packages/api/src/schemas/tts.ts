import { z } from "zod";

import { audioFormatSchema, idSchema } from "./common";
import { withSettings } from "./generation";

/** Sent flat (`{ text, voiceId, format, seed, speed, ... }`); parsed into `{ text, voiceId, format, settings }`. */
export const synthesizeInput = withSettings({
  text: z.string().trim().min(1, "text must not be empty"),
  voiceId: idSchema.nullish(),
  format: audioFormatSchema.default("wav"),
});
/** A parsed synthesis request: what the service receives. */
export type SynthesisRequest = z.output<typeof synthesizeInput>;

export const jobStatusSchema = z.enum(["queued", "running", "done", "failed", "cancelled"]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const jobSchema = z.object({
  id: idSchema,
  status: jobStatusSchema,
  text: z.string(),
  voiceId: z.string().nullable(),
  format: audioFormatSchema,
  createdAt: z.number(),
  finishedAt: z.number().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** Present once done: where to fetch it (`GET /v1/audio/{id}`) and what it is. */
  audio: z
    .object({
      url: z.string(),
      contentType: z.string(),
      size: z.number(),
      durationSeconds: z.number(),
      expiresAt: z.number().nullable(),
    })
    .nullable(),
  tokens: z.number().nullable(),
  seed: z.number().nullable(),
});
export type Job = z.infer<typeof jobSchema>;

export const audioLinkInput = z.object({
  id: idSchema,
  /** Another format than the stored one is converted on the fly (from WAV). */
  format: audioFormatSchema.optional(),
  /** Ask for `Content-Disposition: attachment` (a download rather than playback). */
  download: z.boolean().default(false),
});
export const audioLinkSchema = z.object({
  /** A path under the node (`/v1/audio/{id}?...`): prefix the node's address. */
  url: z.string(),
  /** Epoch ms after which the URL stops working; null when it never does (a node without credentials). */
  expiresAt: z.number().nullable(),
});
export type AudioLink = z.infer<typeof audioLinkSchema>;

export const listJobsInput = z
  .object({ limit: z.number().int().min(1).max(200).default(50) })
  .default({ limit: 50 });

export const jobProgressSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("queued"), position: z.number() }),
  z.object({
    type: z.literal("running"),
    /** Speech tokens generated so far, over all text chunks. */
    tokens: z.number(),
    /** Seconds of audio already streamed (after any speed change). */
    audioSeconds: z.number(),
    /** Long texts are synthesized chunk by chunk (sentences): how many are done, of how many. */
    chunksDone: z.number(),
    chunks: z.number(),
  }),
  z.object({ type: z.literal("done"), job: jobSchema }),
  z.object({ type: z.literal("failed"), code: z.string(), reason: z.string() }),
]);
export type JobProgress = z.infer<typeof jobProgressSchema>;
