import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";

import { AUDIO_FORMATS, ServiceError } from "@tts/api";

import { parseFormat, type AudioConverter } from "../services/audio-convert";
import { CONTENT_TYPES } from "../services/audio-formats";
import type { AudioOutput } from "../services/audio-output";
import { isOwner } from "../services/ownership";
import { requireId } from "../storage/ids";
import type { AudioMeta, Collection } from "../storage/storage";
import { drained, sendJson } from "./respond";

/** Parses a single `bytes=` range against `size`; null = whole body, "invalid" = 416. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | "invalid" {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return header.includes(",") ? null : "invalid"; // multiple ranges: answer with the whole body
  const [, from = "", to = ""] = match;
  if (from === "" && to === "") return "invalid";
  if (from === "") {
    const suffix = Number(to);
    return suffix === 0 ? "invalid" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  return start >= size || end < start ? "invalid" : { start, end };
}

/**
 * GET/HEAD /v1/audio/{id}: while its job runs, the audio so far and then the rest as it is made (chunked, no
 * length, no Range: a browser plays a job while it is generated), relayed from the node that runs it when that is
 * another one; once done, the stored file with Range support.
 * `?format=mp3` (any format the node encodes) converts a stored WAV on the fly; `?download=1` asks the browser to
 * save it (`Content-Disposition: attachment`).
 */
export async function serveAudio(
  req: IncomingMessage,
  res: ServerResponse,
  {
    audio,
    live,
    elsewhere,
    owner,
    id,
    format,
    download,
    convert,
  }: {
    audio: Collection<AudioMeta>;
    /** The caller's own job still running, if `id` is one. */
    live: (id: string) => AudioOutput | undefined;
    /** Serves it from another node on the same storage when that node is making it; false when none is. */
    elsewhere: () => Promise<boolean>;
    /** Only the principal that made the audio gets it; others get the same 404 as for a made-up id. */
    owner: string;
    id: string;
    /** The `format` query: null or the stored format serves the file as it is. */
    format: string | null;
    download: boolean;
    convert: AudioConverter;
  },
) {
  const output = live(requireId("audio", id));
  const asked = format === null ? null : parseFormat(format);
  const disposition = (extension: string): Record<string, string> =>
    download ? { "Content-Disposition": `attachment; filename="${id}.${extension}"` } : {};
  if (output) {
    const liveFormat = AUDIO_FORMATS.find((known) => CONTENT_TYPES[known] === output.contentType) ?? "wav";
    if (asked && asked !== liveFormat)
      return sendJson(res, 409, {
        error: {
          code: "CONFLICT",
          message: `Audio ${id} is still being generated; ask for format=${format} once its job is done.`,
          type: "conflict",
        },
      });
    return followLive(req, res, output, disposition(liveFormat));
  }
  const stored = await audio.get(id);
  if ((!stored || !isOwner(stored.meta, owner)) && (await elsewhere())) return;
  if (!stored || !isOwner(stored.meta, owner))
    return sendJson(res, 404, {
      error: {
        code: "NOT_FOUND",
        message: `No audio with id ${id} (it may have expired).`,
        type: "not_found",
      },
    });
  if (asked && asked !== stored.meta.format) {
    const bytes = await audio.read(id);
    if (!bytes) throw new ServiceError("NOT_FOUND", `No audio with id ${id}.`);
    const converted = await convert(bytes, stored.meta.format, asked);
    res.writeHead(200, {
      "Content-Type": converted.contentType,
      "Content-Length": converted.bytes.length,
      "Cache-Control": "private, max-age=3600",
      ...disposition(asked),
    });
    return void res.end(req.method === "HEAD" ? undefined : converted.bytes);
  }
  const range = parseRange(req.headers.range, stored.size);
  if (range === "invalid") {
    res.writeHead(416, { "Content-Range": `bytes */${stored.size}` });
    return void res.end();
  }
  const headers: Record<string, string | number> = {
    "Content-Type": stored.meta.contentType,
    "Accept-Ranges": "bytes",
    "Cache-Control": "private, max-age=3600",
    "Content-Length": range ? range.end - range.start + 1 : stored.size,
    ...disposition(stored.meta.format),
  };
  if (range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${stored.size}`;
  const body = req.method === "HEAD" ? null : await audio.stream(id, range ?? undefined);
  if (req.method !== "HEAD" && !body)
    return sendJson(res, 404, {
      error: { code: "NOT_FOUND", message: `No audio with id ${id}.`, type: "not_found" },
    });
  res.writeHead(range ? 206 : 200, headers);
  if (!body) return void res.end();
  // A read error or a client that goes away ends both sides and closes the file.
  await pipeline(body, res).catch(() => undefined);
}

async function followLive(
  req: IncomingMessage,
  res: ServerResponse,
  output: AudioOutput,
  headers: Record<string, string>,
): Promise<void> {
  res.writeHead(200, {
    ...headers,
    "Content-Type": output.contentType,
    "Cache-Control": "no-store",
    "Accept-Ranges": "none",
  });
  if (req.method === "HEAD") return void res.end();
  const gone = new AbortController();
  res.on("close", () => gone.abort());
  try {
    for await (const bytes of output.follow(gone.signal)) if (!res.write(bytes)) await drained(res);
    res.end();
  } catch (error) {
    // The job failed: cut the stream so the player knows it is incomplete.
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}
