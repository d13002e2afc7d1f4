import { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { getErrorShape, TRPCError } from "@trpc/server";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";

import {
  API_KEY_REQUIRED,
  appRouter,
  HTTP_STATUS,
  internalErrorMessage,
  ServiceError,
  trpcCode,
  type ApiContext,
  type NotReady,
  type Principal,
  type Variant,
} from "@tts/api";
import type { RateLimiter } from "@tts/api/rate-limit";
import { encodeWav } from "@tts/audio";

import { requestContext, type Logger } from "../logger";
import type { AudioConverter } from "../services/audio-convert";
import type { JobService } from "../services/job-service";
import { NODE_HEADER, type PeerNodes } from "../services/peer-nodes";
import type { VoiceLibrary } from "../services/voice-service";
import type { AudioMeta, Collection } from "../storage/storage";
import { recordRequestError, routeRequestSpan, traceRequest } from "../tracing";
import type { AudioLinks } from "./audio-links";
import { serveAudio } from "./audio-route";
import { applyCors } from "./cors";
import type { Metrics } from "./metrics";
import { audioModelList, audioVoiceList, modelList } from "./openai-lists";
import { relayAudio } from "./peer-audio";
import { sendError, sendJson } from "./respond";
import { Slots } from "./slots";
import { handleSpeech } from "./speech-route";

export interface InferenceServerOptions {
  /** Everything procedures need except who is calling and the request id, which are per request. */
  context: Omit<ApiContext, "principal" | "requestId">;
  corsOrigins: readonly string[];
  logger: Logger;
  /** The principal of an `Authorization` value; null when credentials are required and none valid was given. */
  authenticate: (authorization: string | undefined) => Principal | null;
  /** Signed links to audio, for callers that cannot send headers (media elements, downloads). */
  audioLinks: AudioLinks;
  /** Stored audio in another format, for `GET /v1/audio/{id}?format=`. */
  convertAudio: AudioConverter;
  /** Whose rate a request counts against: its principal with keys, its client address without (or without one). */
  rateKey: (req: IncomingMessage, principal: Principal | null) => string;
  rateLimit: RateLimiter;
  limits: {
    maxJsonBytes: number;
    maxUploadBytes: number;
    maxSpeechInputLength: number;
    /** Voice uploads read at once; more get 503 (uploads are large and slow to arrive). */
    maxConcurrentUploads: number;
    /** Other request bodies read at once. */
    maxConcurrentBodies: number;
  };
  metrics: Metrics;
  jobs: JobService;
  audio: Collection<AudioMeta>;
  /** This process's id among nodes sharing storage: requests forwarded to another node are refused (421). */
  nodeId: string;
  /** Forwards to the node that runs a job (its live audio). */
  peers: PeerNodes;
  /** Idle keep-alive connections close after this long; above the load balancer's idle timeout. */
  keepAliveMs?: number;
  /** Null = ready: model loaded and warmed, a worker available, and not draining. */
  notReady: () => NotReady | null;
  /** The loaded variant (undefined while the model loads). */
  variant: () => Variant | undefined;
  /** Whether the loaded model runs classifier-free guidance. */
  guided: () => boolean;
  /** The variant this node is configured for, named in lists before the model has loaded. */
  configuredVariant: Variant;
  voices: VoiceLibrary;
  /** Operator-mapped voice names (lowercase) -> stored voice ids; global, listed for every caller. */
  voiceAliases: ReadonlyMap<string, string>;
}

/**
 * Idle keep-alive connections are kept longer than a load balancer keeps its own (AWS ALB: 60 s by default), so
 * the balancer closes first. The other way round, a request it sends just as the node closes is lost (a 502 or a
 * reset); the same race hits any client whose idle timer runs late.
 */
const DEFAULT_KEEP_ALIVE_MS = 65_000;

/** tRPC calls one HTTP request may batch. */
export const MAX_BATCH_SIZE = 20;

/** What a handler knows of its request besides req/res. */
interface RequestInfo {
  /** The route pattern's captured (still percent-encoded) path segments. */
  params: readonly string[];
  principal: Principal | null;
}

type Handler = (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => void | Promise<void>;

/** Routes anyone may call, keys or not: they describe the node, never a user's data. */
export const OPEN_ROUTES = ["/healthz", "/readyz", "/v1/models", "/v1/audio/models", "/v1/audio/voices"];

/** The plain HTTP server plus what shutting down needs: how many responses are still in flight. */
export interface InferenceServer {
  server: Server;
  /** Every route name, for tests that must cover them all (tRPC procedures come from the router). */
  routeNames: readonly string[];
  /** From now on, new requests get 503 with `Connection: close`. */
  startDraining(): void;
  /** Resolves true once no response is in flight, or false at the deadline. */
  settled(timeoutMs: number): Promise<boolean>;
  /** Ends what is still in flight: 503 where nothing was sent yet, a cut connection mid-stream. */
  cutOff(): void;
}

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

/**
 * A refusal made before tRPC reads the request (rate limit, body slots, draining), in tRPC's own error shape
 * (one per call of a batch) so typed clients read it like any other error.
 */
function sendTrpcError(res: ServerResponse, procedures: string, batch: boolean, error: ServiceError): void {
  const trpcError = new TRPCError({
    code: trpcCode(error.code),
    message: error.message,
    cause: error,
  });
  const shapes = procedures.split(",").map((path) => ({
    error: getErrorShape({
      config: appRouter._def._config,
      error: trpcError,
      type: "unknown",
      path,
      input: undefined,
      ctx: undefined,
    }),
  }));
  const headers: Record<string, string> = error.retryAfterSeconds
    ? { "Retry-After": String(error.retryAfterSeconds) }
    : {};
  sendJson(res, HTTP_STATUS[error.code], batch ? shapes : shapes[0], headers);
}

/** Whether a body follows the headers (a declared length above zero, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
}

/** tRPC batches say so in the query: `?batch=1`. */
function isBatch(target: string | undefined): boolean {
  return new URL(target ?? "/", "http://localhost").searchParams.get("batch") === "1";
}

/** The inference node's HTTP surface: tRPC under /trpc plus the companion audio and operations routes. */
export function createInferenceServer(options: InferenceServerOptions): InferenceServer {
  const { context, corsOrigins, logger, authenticate, limits, metrics } = options;
  const servedVariant = () => options.variant() ?? options.configuredVariant;
  const uploadSlots = new Slots(limits.maxConcurrentUploads);
  const bodySlots = new Slots(limits.maxConcurrentBodies);
  /** Who each request in flight is, for tRPC's createContext (which sees only req). */
  const principals = new WeakMap<IncomingMessage, Principal | null>();
  const requestIds = new WeakMap<IncomingMessage, string>();
  const inFlight = new Set<ServerResponse>();
  let draining = false;

  const trpcHandler = (maxBodySize: number) =>
    createHTTPHandler({
      router: appRouter,
      basePath: "/trpc/",
      maxBodySize,
      // One request may batch a page's worth of calls, not an unbounded amount of work.
      maxBatchSize: MAX_BATCH_SIZE,
      createContext: ({ req, info }) => ({
        ...context,
        // Subscriptions (EventSource) cannot send headers: their credential comes as a connection param.
        principal:
          principals.get(req) ??
          (info.connectionParams?.authorization ? authenticate(info.connectionParams.authorization) : null),
        requestId: requestIds.get(req) ?? "",
      }),
      responseMeta: ({ errors }) => {
        const causes = errors.map((e) => e.cause).filter((cause) => cause instanceof ServiceError);
        const retry = causes.map((cause) => cause.retryAfterSeconds).find(Boolean);
        // tRPC sets its own Vary; appended (an array), ours survives it.
        const headers: Record<string, string | string[]> = { Vary: ["Origin"] };
        if (retry) headers["Retry-After"] = String(retry);
        // Statuses tRPC has no code for (507) are sent as the service meant them.
        const full = errors.length === 1 && causes[0]?.code === "INSUFFICIENT_STORAGE";
        return full ? { headers, status: HTTP_STATUS.INSUFFICIENT_STORAGE } : { headers };
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
    (
      handler: (
        req: IncomingMessage,
        res: ServerResponse,
        info: RequestInfo & { principal: Principal },
      ) => void | Promise<void>,
    ): Handler =>
    (req, res, info) => {
      const { principal } = info;
      // Returned, not dropped: the caller turns a rejection into an error response.
      if (principal) return handler(req, res, { ...info, principal });
      res.setHeader("WWW-Authenticate", "Bearer");
      sendError(res, new ServiceError("UNAUTHORIZED", API_KEY_REQUIRED));
    };

  /**
   * Routes a media element fetches (audio, voices): the caller's credential, or else a link signed for the id in
   * the path (see AudioLinks), stands for the owner.
   */
  const linked =
    (
      handler: (
        req: IncomingMessage,
        res: ServerResponse,
        link: { id: string; owner: string; query: URLSearchParams },
      ) => Promise<void>,
    ): Handler =>
    (req, res, { params: [segment = ""], principal }) => {
      const id = decodeSegment(segment);
      const query = new URL(req.url ?? "/", "http://localhost").searchParams;
      const owner = principal?.id ?? options.audioLinks.principalOf(id, query);
      if (owner) return handler(req, res, { id, owner, query });
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
          const notReady = options.notReady();
          sendJson(
            res,
            notReady ? 503 : 200,
            notReady ? { status: "not-ready", ...notReady } : { status: "ready" },
          );
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
        POST: requireKey((req, res, { principal }) =>
          handleSpeech(req, res, principal.id, {
            jobs: options.jobs,
            maxJsonBytes: limits.maxJsonBytes,
            maxInputLength: limits.maxSpeechInputLength,
            voiceAliases: options.voiceAliases,
            variant: options.variant,
            guided: options.guided,
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
        GET: async (_req, res, { principal }) =>
          sendJson(
            res,
            200,
            await audioVoiceList(
              options.voiceAliases,
              principal ? { voices: options.voices, owner: principal.id } : undefined,
            ),
          ),
      },
    },
    {
      pattern: /^\/v1\/audio\/([^/]+)$/,
      name: "/v1/audio/{id}",
      methods: Object.fromEntries(
        ["GET", "HEAD"].map((method) => [
          method,
          linked(async (req, res, { id, owner, query }) => {
            await serveAudio(req, res, {
              audio: options.audio,
              live: (liveId) => options.jobs.liveOutput(owner, liveId),
              elsewhere: async () => {
                const node = await options.jobs.runningElsewhere(owner, id);
                if (!node) return false;
                await relayAudio(req, res, { node, owner, id, query, peers: options.peers });
                return true;
              },
              owner,
              id,
              format: query.get("format"),
              download: query.get("download") === "1",
              convert: options.convertAudio,
            });
          }),
        ]),
      ),
    },
    {
      pattern: /^\/v1\/voices\/([^/]+)\/audio$/,
      name: "/v1/voices/{id}/audio",
      methods: Object.fromEntries(
        ["GET", "HEAD"].map((method) => [
          method,
          linked(async (req, res, { id, owner }) => {
            // Another principal's voice is a 404, as an id that never existed (voices.get checks the owner).
            const voice = await options.voices.get(owner, id);
            const wav = encodeWav(await options.voices.samples(id), voice.sampleRate);
            res.writeHead(200, {
              "Content-Type": "audio/wav",
              "Content-Length": wav.length,
              "Cache-Control": "private, max-age=3600",
            });
            res.end(req.method === "HEAD" ? undefined : wav);
          }),
        ]),
      ),
    },
  ];

  // Explicit limits instead of Node's defaults: slow or oversized requests are cut off, while responses (streams)
  // may last as long as their job. requestTimeout covers receiving a request, uploads included.
  const server = createServer(
    {
      headersTimeout: 20_000,
      requestTimeout: 300_000,
      keepAliveTimeout: options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) =>
      requestContext.run({ requestId: randomUUID() }, () => traceRequest(req, res, () => handle(req, res))),
  );
  const idle: (() => void)[] = [];
  return {
    server,
    routeNames: routes.map((route) => route.name),
    startDraining: () => void (draining = true),
    settled: (timeoutMs) =>
      new Promise((resolve) => {
        if (inFlight.size === 0) return resolve(true);
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idle.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      }),
    cutOff() {
      for (const res of inFlight) {
        if (!res.headersSent)
          sendError(
            res,
            new ServiceError("SERVICE_UNAVAILABLE", "The server shut down before answering; retry."),
          );
        else res.destroy();
      }
    },
  };

  function track(res: ServerResponse): void {
    inFlight.add(res);
    res.on("close", () => {
      inFlight.delete(res);
      if (inFlight.size === 0) for (const wake of idle.splice(0)) wake();
    });
  }

  /**
   * Refusals made before routing, cheapest first: draining, the caller's rate, and a slot to read its body in.
   * Returns the error to answer with, or undefined to go on.
   */
  function admit(
    req: IncomingMessage,
    routeName: string,
    principal: Principal | null,
  ): ServiceError | undefined {
    if (draining) {
      return new ServiceError(
        "SERVICE_UNAVAILABLE",
        "The server is shutting down; retry on another node.",
        5,
      );
    }
    // Probes and scrapes are never limited: an orchestrator must always see the node's state.
    if (routeName === "/healthz" || routeName === "/readyz" || req.method === "OPTIONS") return undefined;
    const retryAfter = options.rateLimit.take(options.rateKey(req, principal));
    if (retryAfter > 0)
      return new ServiceError(
        "TOO_MANY_REQUESTS",
        `Too many requests; retry in ${retryAfter} s.`,
        retryAfter,
      );
    if (!hasBody(req)) return undefined;
    const upload = routeName === "/trpc/voices.create";
    const release = (upload ? uploadSlots : bodySlots).tryTake();
    if (!release) {
      const what = upload ? `${uploadSlots.size} voice uploads` : `${bodySlots.size} request bodies`;
      return new ServiceError(
        "SERVICE_UNAVAILABLE",
        `The server is already receiving ${what}; retry shortly.`,
        1,
      );
    }
    req.once("end", release);
    req.once("close", release);
    return undefined;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const { requestId } = requestContext.getStore()!;
    track(res);
    requestIds.set(req, requestId);
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
            // A target that did not parse is logged without its query: it may carry a procedure's input.
            path: pathname ?? req.url?.split("?")[0]?.slice(0, 200),
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
      recordRequestError(error);
      sendError(res, new ServiceError("INTERNAL_SERVER_ERROR", internalErrorMessage(requestId)));
    };
    try {
      const path = (pathname = requestPath(req.url));
      const trpcCall = path.startsWith("/trpc/");
      // tRPC decodes procedure names itself and would fail on a bad escape with a 500: refuse it here.
      if (trpcCall) decodeSegment(path);
      const route = trpcCall ? undefined : routes.find((r) => r.pattern.test(path));
      routeName = trpcCall ? "/trpc" : (route?.name ?? "unmatched");
      routeRequestSpan(req.method, trpcCall ? path : route?.name, path);
      if (applyCors(req, res, corsOrigins)) return;
      const addressed = req.headers[NODE_HEADER];
      if (addressed !== undefined && addressed !== options.nodeId)
        return sendJson(res, 421, {
          error: {
            code: "MISDIRECTED_REQUEST",
            message: `This request was forwarded to node ${String(addressed)}, but reached ${options.nodeId}; check the nodes' TTS_NODE_URL.`,
            type: "misdirected_request",
          },
        });
      const principal = authenticate(req.headers.authorization);
      principals.set(req, principal);
      const refusal = admit(req, trpcCall ? path : routeName, principal);
      if (refusal && draining) res.setHeader("Connection", "close");
      if (trpcCall) {
        if (refusal) return sendTrpcError(res, path.slice("/trpc/".length), isBatch(req.url), refusal);
        return path === "/trpc/voices.create" ? trpcUpload(req, res) : trpc(req, res);
      }
      if (refusal) return sendError(res, refusal);
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
      void Promise.resolve(handler(req, res, { params, principal })).catch(fail);
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
