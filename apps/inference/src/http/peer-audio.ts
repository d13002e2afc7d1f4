import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { traceHeaders } from "@tts/api/tracing";

import type { PeerNode, PeerNodes } from "../services/peer-nodes";
import { sendJson } from "./respond";

/** What a forwarded answer keeps of the peer's headers: what a player needs, nothing hop-by-hop. */
const RELAYED_HEADERS = [
  "content-type",
  "content-length",
  "content-range",
  "content-disposition",
  "accept-ranges",
  "cache-control",
  "retry-after",
];

/**
 * Serves `GET|HEAD /v1/audio/{id}` of a job that `node` runs, by relaying the same request to it (live audio
 * while it is made, with the caller's format and range), acting for `owner`. An unreachable node is a 503.
 */
export async function relayAudio(
  req: IncomingMessage,
  res: ServerResponse,
  {
    node,
    owner,
    id,
    query,
    peers,
  }: { node: PeerNode; owner: string; id: string; query: URLSearchParams; peers: PeerNodes },
): Promise<void> {
  const forwarded = new URLSearchParams();
  for (const name of ["format", "download"]) {
    const value = query.get(name);
    if (value !== null) forwarded.set(name, value);
  }
  const search = forwarded.size > 0 ? `?${forwarded.toString()}` : "";
  const gone = new AbortController();
  res.on("close", () => gone.abort());
  let answer: Response;
  try {
    answer = await fetch(`${node.url}/v1/audio/${encodeURIComponent(id)}${search}`, {
      method: req.method === "HEAD" ? "HEAD" : "GET",
      headers: {
        ...traceHeaders(), // the relayed request joins the caller's trace
        ...peers.headers(node, owner),
        ...(req.headers.range && { Range: req.headers.range }),
      },
      signal: gone.signal,
    });
  } catch {
    if (gone.signal.aborted) return;
    return sendJson(
      res,
      503,
      {
        error: {
          code: "SERVICE_UNAVAILABLE",
          message: `Audio ${id} is being made by another node (${node.url}), which cannot be reached right now; retry shortly.`,
          type: "service_unavailable",
        },
      },
      { "Retry-After": "5" },
    );
  }
  const headers: Record<string, string> = {};
  for (const name of RELAYED_HEADERS) {
    const value = answer.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  res.writeHead(answer.status, headers);
  if (!answer.body) return void res.end();
  // A peer that fails mid-stream cuts this answer too, so the player knows the audio is incomplete.
  await pipeline(Readable.fromWeb(answer.body), res).catch(() => res.destroy());
}
