import { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { createHTTPHandler } from "@trpc/server/adapters/standalone";

import {
  API_KEY_REQUIRED,
  appRouter,
  ServiceError,
  type ApiContext,
  type Variant,
  type VoiceService,
} from "@tts/api";

import { requestContext, type Logger } from "../logger";
import type { JobService } from "../services/job-service";
import type { AudioMeta, Collection } from "../storage/storage";
import { serveAudio } from "./audio-route";
import { applyCors } from "./cors";
import type { Metrics } from "./metrics";
import { audioModelList, audioVoiceList, modelList } from "./openai-lists";
import { sendError, sendJson } from "./respond";
import { handleSpeech } from "./speech-route";

export interface InferenceServerOptions {
  /** Everything procedures need except `authorized`, which is decided per request. */
  context: Omit<ApiContext, "authorized">;
  corsOrigins: readonly string[];
  logger: Logger;
  authorize: (req: IncomingMessage) => boolean;
  limits: { maxJsonBytes: number; maxUploadBytes: number; maxSpeechInputLength: number };
  metrics: Metrics;
  jobs: JobService;
  audio: Collection<AudioMeta>;
  /** Ready = model loaded and warmed, and not draining. */
  readiness: () => { ready: boolean; reason: string };
  /** The loaded variant (undefined while the model loads). */
  variant: () => Variant | undefined;
  /** The variant this node is configured for, named in lists before the model has loaded. */
  configuredVariant: Variant;
  voices: VoiceService;
  /** Operator-mapped voice names (lowercase) -> stored voice ids; global, listed for every caller. */
  voiceAliases: ReadonlyMap<string, string>;
}

/** A route's handler; `params` are the route pattern's captured (still percent-encoded) path segments. */
/** tRPC calls one HTTP request may batch. */
export const MAX_BATCH_SIZE = 20;

type Handler = (req: IncomingMessage, res: ServerResponse, params: readonly string[]) => void | Promise<void>;

/**
 * The path of a request target, in origin form (`/a/b?q`) or absolute form (`http://host/a/b`). Anything else is
 * the client's mistake and a 400, never an exception outside the handler: `*`, and paths starting with `//`, which
 * URL parsers read as a host (`//x:99999` is a host with an invalid port).
 */
export function requestPath(target: string | undefined): string {
  try {
    if (target?.startsWith("//")) throw new TypeError("a path must not start with //");
    const url = target?.startsWith("/") ? new URL(`http://localhost${target}`) : new URL(target ?? "");
    if (url.protocol === "http:" || url.protocol === "https:") return url.pathname;
  } catch {
    // Falls through to the 400 below.
  }
  throw new ServiceError("BAD_REQUEST", `Malformed request target ${JSON.stringify(target?.slice(0, 200))}.`);
}

/** A percent-encoded path segment, decoded; a bad escape such as `%zz` is a 400. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ServiceError("BAD_REQUEST", `Malformed percent-encoding in ${JSON.stringify(segment)}.`);
  }
}

/** The inference node's HTTP surface: tRPC under /trpc plus the companion audio and operations routes. */
export function createInferenceServer(options: InferenceServerOptions): Server {
  const { context, corsOrigins, logger, authorize, limits, metrics } = options;
  const servedVariant = () => options.variant() ?? options.configuredVariant;

  const trpcHandler = (maxBodySize: number) =>
    createHTTPHandler({
      router: appRouter,
      basePath: "/trpc/",
      maxBodySize,
      // One request may batch a page's worth of calls, not an unbounded amount of work.
      maxBatchSize: MAX_BATCH_SIZE,
      createContext: ({ req }) => ({ ...context, authorized: authorize(req) }),
      responseMeta: ({ errors }) => {
        const retry = errors
          .map((e) => (e.cause instanceof ServiceError ? e.cause.retryAfterSeconds : undefined))
          .find(Boolean);
        // tRPC sets its own Vary; appended (an array), ours survives it.
        const headers: Record<string, string | string[]> = { Vary: ["Origin"] };
        if (retry) headers["Retry-After"] = String(retry);
        return { headers };
      },
      onError: ({ error, path }) => {
        if (error.code === "INTERNAL_SERVER_ERROR")
          logger.error({ path, err: error.cause ?? error }, "procedure failed");
      },
    });
  // Uploads get their own (larger) limit, enforced while the body streams in.
  const trpcUpload = trpcHandler(limits.maxUploadBytes);
  const trpc = trpcHandler(limits.maxJsonBytes);

  const requireKey =
    (handler: Handler): Handler =>
    (req, res, params) => {
      if (authorize(req)) return handler(req, res, params);
      res.setHeader("WWW-Authenticate", "Bearer");
      sendError(res, new ServiceError("UNAUTHORIZED", API_KEY_REQUIRED));
    };

  const routes: { pattern: RegExp; name: string; methods: Record<string, Handler> }[] = [
    {
      pattern: /^\/healthz$/,
      name: "/healthz",
      methods: { GET: (_req, res) => sendJson(res, 200, { status: "ok" }) },
    },
    {
      pattern: /^\/readyz$/,
      name: "/readyz",
      methods: {
        GET: (_req, res) => {
          const { ready, reason } = options.readiness();
          sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not-ready", reason });
        },
      },
    },
    {
      pattern: /^\/metrics$/,
      name: "/metrics",
      // Behind a key when keys are set: request counts and job outcomes describe its users' traffic.
      methods: {
        GET: requireKey(async (_req, res) => {
          const body = await metrics.registry.metrics();
          res.writeHead(200, { "Content-Type": metrics.registry.contentType });
          res.end(body);
        }),
      },
    },
    {
      pattern: /^\/v1\/audio\/speech$/,
      name: "/v1/audio/speech",
      methods: {
        POST: requireKey((req, res) =>
          handleSpeech(req, res, {
            jobs: options.jobs,
            maxJsonBytes: limits.maxJsonBytes,
            maxInputLength: limits.maxSpeechInputLength,
            voiceAliases: options.voiceAliases,
            variant: options.variant,
            onFirstAudio: (seconds) => metrics.jobs.firstAudio(seconds, "speech"),
          }),
        ),
      },
    },
    // OpenAI clients call these lists, some without a key: the model lists hold no user data.
    {
      pattern: /^\/v1\/models$/,
      name: "/v1/models",
      methods: { GET: (_req, res) => sendJson(res, 200, modelList(servedVariant())) },
    },
    {
      pattern: /^\/v1\/audio\/models$/,
      name: "/v1/audio/models",
      methods: { GET: (_req, res) => sendJson(res, 200, audioModelList(servedVariant())) },
    },
    {
      pattern: /^\/v1\/audio\/voices$/,
      name: "/v1/audio/voices",
      methods: {
        GET: async (req, res) =>
          sendJson(
            res,
            200,
            await audioVoiceList(options.voiceAliases, authorize(req) ? options.voices : undefined),
          ),
      },
    },
    {
      pattern: /^\/v1\/audio\/([^/]+)$/,
      name: "/v1/audio/{id}",
      methods: Object.fromEntries(
        ["GET", "HEAD"].map((method) => [
          method,
          requireKey((req, res, [id = ""]) =>
            serveAudio(req, res, options.audio, (live) => options.jobs.liveOutput(live), decodeSegment(id)),
          ),
        ]),
      ),
    },
  ];

  // Explicit limits instead of Node's defaults: slow or oversized requests are cut off, while responses (streams)
  // may last as long as their job. requestTimeout covers receiving a request, uploads included.
  const server = createServer(
    { headersTimeout: 20_000, requestTimeout: 300_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 },
    (req, res) => requestContext.run({ requestId: randomUUID() }, () => handle(req, res)),
  );
  return server;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const { requestId } = requestContext.getStore()!;
    const started = performance.now();
    // Set once the target parses; the log line falls back to the raw target.
    let pathname: string | undefined;
    // Route templates, never raw paths, as labels: metric cardinality stays bounded whatever clients send.
    let routeName = "unmatched";
    res.setHeader("X-Request-Id", requestId);
    // Responses are data, never documents to sniff; routes that may be cached say so themselves.
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-store");
    // Bound so the line is written in this request's context (and so carries its requestId).
    res.on(
      "finish",
      AsyncResource.bind(() => {
        metrics.request(routeName, req.method ?? "?", res.statusCode);
        const quiet = routeName === "/metrics" || routeName === "/healthz" || routeName === "/readyz";
        logger[quiet ? "debug" : "info"](
          {
            method: req.method,
            path: pathname ?? req.url?.slice(0, 200),
            status: res.statusCode,
            ms: Math.round(performance.now() - started),
          },
          "request",
        );
      }),
    );
    const fail = (error: unknown) => {
      if (error instanceof ServiceError) return sendError(res, error);
      logger.error({ err: error }, "request failed");
      sendError(res, new ServiceError("INTERNAL_SERVER_ERROR", `Internal error (request ${requestId}).`));
    };
    try {
      const path = (pathname = requestPath(req.url));
      const trpcCall = path.startsWith("/trpc/");
      const route = trpcCall ? undefined : routes.find((r) => r.pattern.test(path));
      routeName = trpcCall ? "/trpc" : (route?.name ?? "unmatched");
      if (applyCors(req, res, corsOrigins)) return;
      if (trpcCall) return path === "/trpc/voices.create" ? trpcUpload(req, res) : trpc(req, res);
      if (!route) return sendError(res, new ServiceError("NOT_FOUND", `No route for ${req.method} ${path}`));
      const handler = route.methods[req.method ?? ""];
      if (!handler) {
        res.setHeader("Allow", Object.keys(route.methods).join(", "));
        return sendJson(res, 405, {
          error: {
            code: "METHOD_NOT_ALLOWED",
            message: `${req.method} is not allowed on ${path}`,
            type: "method_not_allowed",
          },
        });
      }
      const params = route.pattern.exec(path)!.slice(1);
      void Promise.resolve(handler(req, res, params)).catch(fail);
    } catch (error) {
      fail(error);
    }
  }
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
