import type { IncomingMessage, ServerResponse } from "node:http";

import { z } from "zod";

import { audioFormatSchema, ServiceError, VARIANTS, withSettings } from "@tts/api";

import type { JobService } from "../services/job-service";
import { readJsonBody } from "./respond";

/** OpenAI's names for its built-in voices: here they all mean the model's default voice. */
const OPENAI_VOICES = new Set([
  "alloy",
  "ash",
  "ballad",
  "coral",
  "echo",
  "fable",
  "nova",
  "onyx",
  "sage",
  "shimmer",
  "verse",
  "default",
]);

/** `POST /v1/audio/speech`: OpenAI's request shape plus Chatterbox's own generation settings (`speed` is both). */
const speechRequest = withSettings({
  model: z.string().min(1, "model must not be empty"),
  input: z.string().trim().min(1, "input must not be empty"),
  voice: z.string().min(1).default("default"),
  response_format: audioFormatSchema.default("mp3"),
  stream_format: z.enum(["audio", "sse"]).default("audio"),
  instructions: z.string().optional(),
});

export interface SpeechRouteOptions {
  jobs: JobService;
  maxJsonBytes: number;
  /** The loaded variant; `model` may name it, or any OpenAI model name (served by it). */
  variant: () => string | undefined;
}

const CHUNK = 16 * 1024;

function parseRequest(body: unknown) {
  const parsed = speechRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "body";
    throw new ServiceError("BAD_REQUEST", `Invalid request: ${field}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** Answers with the audio once it is produced (as raw bytes, or as base64 deltas over SSE). */
export async function handleSpeech(
  req: IncomingMessage,
  res: ServerResponse,
  options: SpeechRouteOptions,
): Promise<void> {
  const request = parseRequest(await readJsonBody(req, options.maxJsonBytes));
  const variant = options.variant();
  const modelName = request.model.toLowerCase();
  for (const name of VARIANTS) {
    if (variant && modelName.includes(name) && name !== variant) {
      throw new ServiceError(
        "BAD_REQUEST",
        `This node serves Chatterbox ${variant}, not "${request.model}".`,
      );
    }
  }
  const { input, response_format: format, stream_format, settings } = request;

  // A client that goes away cancels the synthesis: generation stops within one decode step.
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) gone.abort();
  });
  const voiceId = OPENAI_VOICES.has(request.voice) ? null : request.voice;
  const { result } = await options.jobs.run({ text: input, voiceId, format, settings }, gone.signal);
  const { job, bytes, contentType } = await result;

  if (stream_format === "sse") {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      "X-Audio-Id": job.id,
    });
    for (let offset = 0; offset < bytes.length; offset += CHUNK) {
      const audio = Buffer.from(bytes.subarray(offset, offset + CHUNK)).toString("base64");
      res.write(`data: ${JSON.stringify({ type: "speech.audio.delta", audio })}\n\n`);
    }
    const usage = {
      input_tokens: input.length,
      output_tokens: job.tokens ?? 0,
      total_tokens: input.length + (job.tokens ?? 0),
    };
    res.end(`data: ${JSON.stringify({ type: "speech.audio.done", usage })}\n\n`);
    return;
  }
  res.writeHead(200, { "Content-Type": contentType, "Content-Length": bytes.length, "X-Audio-Id": job.id });
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    if (!res.write(bytes.subarray(offset, offset + CHUNK)))
      await new Promise((resolve) => res.once("drain", resolve));
  }
  res.end();
}
