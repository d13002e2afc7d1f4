import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { appRouter, type ApiContext } from "@tts/api";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";

import type { Logger } from "../logger";
import { applyCors } from "./cors";

export interface InferenceServerOptions {
  context: ApiContext;
  corsOrigins: readonly string[];
  logger: Logger;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

/** The inference node's HTTP surface: tRPC under /trpc plus plain companion routes. */
export function createInferenceServer({ context, corsOrigins, logger }: InferenceServerOptions): Server {
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: "/trpc/",
    createContext: () => context,
    onError: ({ error, path }) => {
      if (error.code === "INTERNAL_SERVER_ERROR") logger.error({ err: error, path }, "procedure failed");
    },
  });

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    "/healthz": (_req, res) => sendJson(res, 200, { status: "ok" }),
  };

  return createServer((req, res) => {
    const requestId = randomUUID();
    res.setHeader("X-Request-Id", requestId);
    if (applyCors(req, res, corsOrigins)) return;
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    if (pathname.startsWith("/trpc/")) return trpc(req, res);
    const route = routes[pathname];
    if (route) return route(req, res);
    sendJson(res, 404, { error: { code: "NOT_FOUND", message: `No route for ${req.method} ${pathname}` } });
  });
}

/** Listens and resolves with the bound port (0 picks an ephemeral one). */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
