import { z } from "zod";

import { idSchema } from "./common";

export const voiceNameSchema = z
  .string()
  .trim()
  .min(1, "name must not be empty")
  .max(100, "name is limited to 100 characters");

export const voiceSchema = z.object({
  id: idSchema,
  name: z.string(),
  durationSeconds: z.number(),
  sampleRate: z.number(),
  createdAt: z.number(),
});
export type Voice = z.infer<typeof voiceSchema>;

export const renameVoiceInput = z.object({ id: idSchema, name: voiceNameSchema });

/** voices.create takes multipart form data: `file` (a WAV) and an optional `name`. */
export const createVoiceInput = z.instanceof(FormData).transform((form, ctx) => {
  const file = form.get("file");
  if (!(file instanceof Blob)) {
    ctx.addIssue({ code: "custom", message: "form field `file` must be a WAV file", path: ["file"] });
    return z.NEVER;
  }
  const rawName = form.get("name");
  const fallback = file instanceof File && file.name ? file.name.replace(/\.[^.]*$/, "") : "My voice";
  const name = voiceNameSchema.safeParse(typeof rawName === "string" && rawName.trim() ? rawName : fallback);
  if (!name.success) {
    ctx.addIssue({
      code: "custom",
      message: name.error.issues[0]?.message ?? "invalid name",
      path: ["name"],
    });
    return z.NEVER;
  }
  return { file, name: name.data };
});
