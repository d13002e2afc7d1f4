import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { resolveModel, type ModelSpec } from "../../src/models/registry";

/** A real repository layout with small random contents; root files keep no pinned size, like the registry. */
export function fakeSpec(
  variant = "turbo",
  dtype = "q4",
): { spec: ModelSpec; contents: Map<string, Buffer> } {
  const base = resolveModel(variant, dtype);
  const contents = new Map<string, Buffer>();
  const files = base.files.map((file, i) => {
    const content = randomBytes(file.size === undefined ? 2_000 + i : 150_000 + i * 20_000);
    contents.set(file.path, content);
    return file.size === undefined ? { path: file.path } : { path: file.path, size: content.length };
  });
  return { spec: { ...base, files }, contents };
}

export const sha256 = (content: Buffer): string => createHash("sha256").update(content).digest("hex");

/** The git blob id: sha1("blob " + byteLength + "\0" + content). */
export const gitBlobSha1 = (content: Buffer | string): string =>
  createHash("sha1")
    .update(`blob ${Buffer.byteLength(content)}\0`)
    .update(content)
    .digest("hex");

/** Stored with Git LFS on the hub (the default .gitattributes covers these). */
export const isLfs = (file: string): boolean => /\.(onnx|onnx_data|wav)$/.test(file);

export type Fault = { drop: number } | { status: number } | { body: Buffer };

export interface Hit {
  method: string;
  file: string;
  range: string | undefined;
  status: number;
  sent: number;
}

/**
 * A fake Hugging Face, publishing what the real one does (see src/models/published.ts):
 * - `/api/models/{repo}/tree/{revision}?recursive=true`: `{ type, path, size, oid, lfs? }` entries, paged with a
 *   `Link: <...>; rel="next"` header;
 * - `/{repo}/resolve/{revision}/{file}`: an LFS file answers 302 to a CDN path with `X-Linked-Etag` (SHA-256),
 *   `X-Linked-Size`, `X-Repo-Commit` and the pointer's ETag; any other file is served right there with its git
 *   blob id as ETag and `X-Repo-Commit`. Bytes support Range.
 * `hits` records the requests that serve bytes, and HEADs of resolve URLs.
 */
export class FakeHub {
  readonly hits: Hit[] = [];
  /** Tree listing requests (their URLs). */
  readonly treeRequests: string[] = [];
  readonly faults = new Map<string, Fault[]>();
  ignoreRange = false;
  /** false: no tree API (a mirror that only proxies files): 404. */
  treeApi = true;
  /** A proxy that strips the hash headers (ETag, X-Linked-*, X-Repo-Commit) and has no tree API. */
  stripHashes = false;
  treePageSize = 5;
  private server: Server | undefined;
  endpoint = "";

  constructor(
    private readonly spec: ModelSpec,
    private readonly contents: Map<string, Buffer>,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  reset(): void {
    this.hits.length = 0;
    this.treeRequests.length = 0;
    this.faults.clear();
    this.ignoreRange = false;
    this.treeApi = true;
    this.stripHashes = false;
  }

  gets(file?: string): Hit[] {
    return this.hits.filter((hit) => hit.method === "GET" && (file === undefined || hit.file === file));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "", this.endpoint);
    const treePath = `/api/models/${this.spec.repo}/tree/${this.spec.revision}`;
    if (url.pathname === treePath) return this.tree(url, res);

    const resolvePrefix = `/${this.spec.repo}/resolve/${this.spec.revision}/`;
    if (url.pathname.startsWith(resolvePrefix)) {
      const file = url.pathname.slice(resolvePrefix.length);
      const content = this.contents.get(file);
      if (content && isLfs(file)) {
        // The hub answers for LFS files itself only with a redirect that names the real file's hash.
        const headers = this.hashHeaders({
          location: `${this.endpoint}/cdn/${file}`,
          "x-linked-etag": `"${sha256(content)}"`,
          "x-linked-size": content.length,
          "x-repo-commit": this.spec.revision,
          etag: `"${gitBlobSha1(lfsPointer(content))}"`,
        });
        if (req.method === "HEAD") return this.serve(req, res, file, 302, headers);
        res.writeHead(302, headers).end();
        return;
      }
      return this.serve(req, res, file, 200, content ? this.hashHeaders(gitHeaders(content, this.spec)) : {});
    }
    if (url.pathname.startsWith("/cdn/")) {
      const file = url.pathname.slice("/cdn/".length);
      // A CDN's own ETag (an MD5 here) says nothing the hub vouches for.
      const content = this.contents.get(file);
      const etag: Record<string, string> = content
        ? { etag: `"${createHash("md5").update(content).digest("hex")}"` }
        : {};
      return this.serve(req, res, file, 200, etag);
    }
    res.writeHead(404).end();
  }

  private hashHeaders(headers: Record<string, string | number>): Record<string, string | number> {
    if (!this.stripHashes) return headers;
    return Object.fromEntries(
      Object.entries(headers).filter(([name]) => name !== "etag" && !name.startsWith("x-")),
    );
  }

  private tree(url: URL, res: ServerResponse): void {
    this.treeRequests.push(url.pathname + url.search);
    if (!this.treeApi || this.stripHashes || url.searchParams.get("recursive") !== "true") {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
      return;
    }
    const entries = [
      { type: "directory", path: "onnx", oid: "0".repeat(40), size: 0 },
      ...[...this.contents].map(([path, content]) =>
        isLfs(path)
          ? {
              type: "file",
              path,
              size: content.length,
              oid: gitBlobSha1(lfsPointer(content)),
              lfs: { oid: sha256(content), size: content.length, pointerSize: lfsPointer(content).length },
            }
          : { type: "file", path, size: content.length, oid: gitBlobSha1(content) },
      ),
    ];
    const cursor = Number(url.searchParams.get("cursor") ?? 0);
    const page = entries.slice(cursor, cursor + this.treePageSize);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (cursor + this.treePageSize < entries.length) {
      const next = new URL(url);
      next.searchParams.set("cursor", String(cursor + this.treePageSize));
      headers.link = `<${next.href}>; rel="next"`;
    }
    res.writeHead(200, headers).end(JSON.stringify(page));
  }

  /** Serves `file`'s bytes (or a fault in their place) with Range support. */
  private serve(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    okStatus: 200 | 302,
    extra: Record<string, string | number>,
  ): void {
    const hit: Hit = { method: req.method ?? "", file, range: req.headers.range, status: 0, sent: 0 };
    this.hits.push(hit);
    const fault = this.faults.get(file)?.shift();
    const content = fault && "body" in fault ? fault.body : this.contents.get(file);
    const reply = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      hit.status = status;
      res.writeHead(status, headers);
      if (req.method === "HEAD" || !body) {
        res.end();
      } else if (fault && "drop" in fault) {
        // Part of the body, then the connection dies mid-file.
        hit.sent = fault.drop;
        res.write(body.subarray(0, fault.drop), () => res.socket?.destroy());
      } else {
        hit.sent = body.length;
        res.end(body);
      }
    };
    if (!content) return reply(404, {});
    if (fault && "status" in fault) return reply(fault.status, {});
    if (okStatus === 302) return reply(302, extra);

    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (!range?.[1] || this.ignoreRange) {
      return reply(200, { ...extra, "content-length": content.length }, content);
    }
    const start = Number(range[1]);
    if (start >= content.length)
      return reply(416, { ...extra, "content-range": `bytes */${content.length}` });
    const body = content.subarray(start);
    return reply(
      206,
      {
        ...extra,
        "content-length": body.length,
        "content-range": `bytes ${start}-${content.length - 1}/${content.length}`,
      },
      body,
    );
  }
}

function lfsPointer(content: Buffer): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`;
}

function gitHeaders(content: Buffer, spec: ModelSpec): Record<string, string> {
  return { etag: `"${gitBlobSha1(content)}"`, "x-repo-commit": spec.revision };
}
