import type { Dispatcher } from "undici";

import { header, parseContentLength } from "./http-headers";
import type { ModelSpec } from "./registry";

/*
 * What the Hugging Face hub publishes about a file, and how we read it. Sources relied on:
 * - huggingface_hub `file_download.py` (`hf_hub_url` docstring, `get_hf_file_metadata`, `_normalize_etag`): "An
 *   object's ETag is: its git-sha1 if stored in git, or its sha256 if stored in git-lfs". It sends a HEAD to the
 *   resolve URL without following the CDN redirect and reads `X-Linked-Etag` (the LFS file's SHA-256; the
 *   redirect's own ETag describes the LFS pointer) falling back to `ETag`, `X-Linked-Size` falling back to
 *   `Content-Length`, and `X-Repo-Commit`; ETags come quoted, possibly with a `W/` prefix.
 * - huggingface.js `list-files.ts`: `GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true` returns
 *   `[{ type, path, size, oid, lfs?: { oid, size, pointerSize } }]`, paged with a `Link: <...>; rel="next"`
 *   header; `oid` is the git blob id, `lfs.oid` the SHA-256 of the real file.
 * The tree listing is preferred (one request, unambiguous about LFS). A git blob SHA-1 is
 * sha1("blob " + byteLength + "\0" + content).
 */

export type HashKind = "sha256" | "git-blob-sha1";
export type HashSource = "tree-api" | "x-linked-etag" | "etag" | "none";

export interface PublishedFile {
  size?: number;
  hash?: { kind: HashKind; value: string };
  source: HashSource;
  /** `X-Repo-Commit`, when the response carried it. */
  commit?: string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHA1 = /^[0-9a-f]{40}$/;

export const NOT_PUBLISHED: PublishedFile = { source: "none" };

export function treeUrl(spec: ModelSpec, endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/api/models/${spec.repo}/tree/${spec.revision}?recursive=true`;
}

interface TreeEntry {
  type?: unknown;
  path?: unknown;
  size?: unknown;
  oid?: unknown;
  lfs?: { oid?: unknown; size?: unknown } | null;
}

/** One page of the tree listing, as path -> published file; anything malformed is left out (so unverified). */
export function parseTreePage(json: unknown): Map<string, PublishedFile> {
  const files = new Map<string, PublishedFile>();
  if (!Array.isArray(json)) return files;
  for (const entry of json as TreeEntry[]) {
    if (entry?.type !== "file" || typeof entry.path !== "string") continue;
    const lfs = entry.lfs;
    const [hash, size] = lfs
      ? [asHash("sha256", lfs.oid), lfs.size]
      : [asHash("git-blob-sha1", entry.oid), entry.size];
    files.set(entry.path, {
      ...(typeof size === "number" ? { size } : {}),
      ...(hash ? { hash, source: "tree-api" } : { source: "none" }),
    });
  }
  return files;
}

/** The next page from a `Link` header, only on the same origin (the request carries the token). */
export function nextPage(link: string | undefined, current: string): string | undefined {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link ?? "");
  if (!match?.[1]) return undefined;
  const next = new URL(match[1], current);
  return next.origin === new URL(current).origin ? next.href : undefined;
}

/** Reads a resolve URL's response, which must not have been redirected (a 3xx is read as is). */
export function publishedFromHeaders(
  status: number,
  headers: Dispatcher.ResponseData["headers"],
): PublishedFile {
  const commit = header(headers, "x-repo-commit");
  const linkedSize = parseContentLength(header(headers, "x-linked-size"));
  // A redirect's Content-Length is its own (empty) body, and its ETag the LFS pointer's.
  const direct = status >= 200 && status < 300;
  const size = linkedSize ?? (direct ? parseContentLength(header(headers, "content-length")) : undefined);
  const base = { ...(size === undefined ? {} : { size }), ...(commit ? { commit } : {}) };

  const linked = asHash("sha256", normalizeEtag(header(headers, "x-linked-etag")));
  if (linked) return { ...base, hash: linked, source: "x-linked-etag" };
  if (direct) {
    const etag = normalizeEtag(header(headers, "etag"));
    // A file served straight from git: its blob id. A 64-hex ETag is a mirror serving an LFS file directly.
    const hash = asHash("git-blob-sha1", etag) ?? asHash("sha256", etag);
    if (hash) return { ...base, hash, source: "etag" };
  }
  return { ...base, source: "none" };
}

function normalizeEtag(value: string | undefined): string | undefined {
  return value
    ?.trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1")
    .toLowerCase();
}

function asHash(kind: HashKind, value: unknown): PublishedFile["hash"] {
  if (typeof value !== "string") return undefined;
  const hex = value.toLowerCase();
  return (kind === "sha256" ? SHA256 : SHA1).test(hex) ? { kind, value: hex } : undefined;
}
