import type { IncomingMessage, ServerResponse } from "node:http";

import { requireId } from "../storage/ids";
import type { AudioMeta, Collection } from "../storage/storage";
import { sendJson } from "./respond";

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

/** GET/HEAD /v1/audio/{id}: a stored result, with Range support for seeking players. */
export async function serveStoredAudio(
  req: IncomingMessage,
  res: ServerResponse,
  audio: Collection<AudioMeta>,
  id: string,
) {
  const stored = await audio.get(requireId("audio", id));
  if (!stored)
    return sendJson(res, 404, {
      error: {
        code: "NOT_FOUND",
        message: `No audio with id ${id} (it may have expired).`,
        type: "not_found",
      },
    });
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
  };
  if (range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${stored.size}`;
  const body = req.method === "HEAD" ? null : await audio.stream(id, range ?? undefined);
  if (req.method !== "HEAD" && !body)
    return sendJson(res, 404, {
      error: { code: "NOT_FOUND", message: `No audio with id ${id}.`, type: "not_found" },
    });
  res.writeHead(range ? 206 : 200, headers);
  if (!body) return void res.end();
  body.pipe(res);
}
