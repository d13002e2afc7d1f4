import type { IncomingMessage, ServerResponse } from "node:http";

import { z } from "zod";

import {
  audioFormatSchema,
  internalErrorMessage,
  ServiceError,
  VARIANTS,
  withSettings,
  type Variant,
} from "@tts/api";

import { requestContext } from "../logger";
import type { JobService } from "../services/job-service";
import { applyInstructions, camelCaseSettings, resolveVoiceName, servedModelIds } from "./openai-compat";
import { drained, readJsonBody } from "./respond";

/** `POST /v1/audio/speech`: OpenAI's request shape plus Chatterbox's own generation settings (`speed` is both). */
const speechRequest = withSettings({
  model: z.string().min(1, "model must not be empty"),
  input: z.string().trim().min(1, "input must not be empty"),
  // A name or a voice id, as a string or as `{ "id": ... }` (newer OpenAI clients).
  voice: z
    .union([z.string().min(1), z.object({ id: z.string().min(1) }).transform(({ id }) => id)], {
      message: 'voice must be a name or id, or { "id": ... }',
    })
    .default("default"),
  response_format: audioFormatSchema.default("mp3"),
  stream_format: z.enum(["audio", "sse"]).default("audio"),
  instructions: z.string().optional(),
});

export interface SpeechRouteOptions {
  jobs: JobService;
  /** Operator-mapped voice names (lowercase) -> stored voice ids. */
  voiceAliases: ReadonlyMap<string, string>;
  maxJsonBytes: number;
  /** Characters per request (OpenAI's limit is 4096); stored jobs through tRPC take far longer texts. */
  maxInputLength: number;
  /** The loaded variant; `model` may name it, or any OpenAI model name (served by it). */
  variant: () => Variant | undefined;
  /** Whether the loaded model runs classifier-free guidance (English with its text-position table). */
  guided: () => boolean;
  /** Seconds from the request to its first audio sample written onto the response. */
  onFirstAudio: (seconds: number) => void;
}

function parseRequest(body: unknown) {
  const parsed = speechRequest.safeParse(camelCaseSettings(body));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "body";
    throw new ServiceError("BAD_REQUEST", `Invalid request: ${field}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

const sseEvent = (event: unknown) => `data: ${JSON.stringify(event)}\n\n`;

/**
 * Streams the audio while it is generated: raw bytes (WAV with an unknown-length header, PCM, MP3 frames, Ogg
 * Opus, ADTS AAC, FLAC) with chunked transfer, or base64 deltas over SSE. A client that goes away cancels the
 * synthesis.
 */
export async function handleSpeech(
  req: IncomingMessage,
  res: ServerResponse,
  owner: string,
  options: SpeechRouteOptions,
): Promise<void> {
  const accepted = performance.now();
  const request = parseRequest(await readJsonBody(req, options.maxJsonBytes));
  const variant = options.variant();
  const modelName = request.model.toLowerCase();
  for (const name of VARIANTS) {
    if (variant && modelName.includes(name) && name !== variant) {
      throw new ServiceError(
        "BAD_REQUEST",
        `This node serves Chatterbox ${variant} (as ${servedModelIds(variant).join(", ")}), not "${request.model}".`,
      );
    }
  }
  const { input, response_format: format, stream_format } = request;
  const { settings, applied } = applyInstructions(
    request.instructions,
    variant,
    request.settings,
    options.guided(),
  );
  if (input.length > options.maxInputLength) {
    throw new ServiceError(
      "BAD_REQUEST",
      `The input is ${input.length} characters; the limit is ${options.maxInputLength} per request ` +
        "(queue longer texts with tts.synthesize).",
    );
  }

  // Generation stops within one decode step of the client going away.
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) gone.abort();
  });
  const voiceId = resolveVoiceName(request.voice, options.voiceAliases);
  const { job, output, done } = await options.jobs.run(
    owner,
    { text: input, voiceId, format, settings },
    gone.signal,
  );
  done.catch(() => undefined); // its failure also ends `follow`, handled below
  const sse = stream_format === "sse";
  const start = () => {
    if (res.headersSent) return;
    res.writeHead(200, {
      "Content-Type": sse ? "text/event-stream" : output.contentType,
      "Cache-Control": "no-cache",
      "X-Audio-Id": job.id,
      "X-Instructions-Applied": applied,
    });
  };
  let firstAudio = true;
  try {
    for await (const bytes of output.follow(gone.signal)) {
      start();
      const writable = sse
        ? res.write(sseEvent({ type: "speech.audio.delta", audio: Buffer.from(bytes).toString("base64") }))
        : res.write(bytes);
      if (firstAudio) {
        firstAudio = false;
        options.onFirstAudio((performance.now() - accepted) / 1000);
      }
      if (!writable) await drained(res);
    }
    const finished = await done;
    start();
    const tokens = finished.tokens ?? 0;
    const usage = { input_tokens: input.length, output_tokens: tokens, total_tokens: input.length + tokens };
    res.end(sse ? sseEvent({ type: "speech.audio.done", usage }) : undefined);
  } catch (error) {
    // Before any audio the server answers with a JSON error; after, a raw stream is cut (never ended cleanly,
    // so the client knows it is incomplete) and an SSE stream ends with an error event.
    if (!res.headersSent) throw error;
    // Job failures arrive as ServiceErrors already stripped of internal detail; anything else is not shown.
    const failure =
      error instanceof ServiceError
        ? error
        : new ServiceError(
            "INTERNAL_SERVER_ERROR",
            internalErrorMessage(requestContext.getStore()?.requestId),
          );
    if (sse && !res.destroyed)
      res.end(sseEvent({ type: "error", error: { code: failure.code, message: failure.message } }));
    else res.destroy(failure);
  }
}
