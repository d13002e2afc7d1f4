import { randomBytes } from "node:crypto";
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

export type Fault = { drop: number } | { status: number } | { body: Buffer };

export interface Hit {
  method: string;
  file: string;
  range: string | undefined;
  status: number;
  sent: number;
}

/** A fake Hugging Face: `/resolve/` redirects to a CDN path that serves bytes with Range support. */
export class FakeHub {
  readonly hits: Hit[] = [];
  readonly faults = new Map<string, Fault[]>();
  ignoreRange = false;
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
    this.faults.clear();
    this.ignoreRange = false;
  }

  gets(file?: string): Hit[] {
    return this.hits.filter((hit) => hit.method === "GET" && (file === undefined || hit.file === file));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "";
    const resolvePrefix = `/${this.spec.repo}/resolve/${this.spec.revision}/`;
    if (url.startsWith(resolvePrefix)) {
      res.writeHead(302, { location: `/cdn/${url.slice(resolvePrefix.length)}` }).end();
      return;
    }
    const file = url.replace(/^\/cdn\//, "");
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
    if (!content || url === file) return reply(404, {});
    if (fault && "status" in fault) return reply(fault.status, {});

    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (!range?.[1] || this.ignoreRange) return reply(200, { "content-length": content.length }, content);
    const start = Number(range[1]);
    if (start >= content.length) return reply(416, { "content-range": `bytes */${content.length}` });
    const body = content.subarray(start);
    return reply(
      206,
      {
        "content-length": body.length,
        "content-range": `bytes ${start}-${content.length - 1}/${content.length}`,
      },
      body,
    );
  }
}
