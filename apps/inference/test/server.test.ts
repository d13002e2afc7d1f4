import type { Server } from "node:http";

import { createTRPCClient, httpBatchLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "@tts/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createApiContext } from "../src/context";
import { createInferenceServer, listen } from "../src/http/server";
import { createLogger } from "../src/logger";

const allowedOrigin = "http://app.test:3000";
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createInferenceServer({
    context: createApiContext(),
    corsOrigins: [allowedOrigin],
    logger: createLogger("silent"),
  });
  const port = await listen(server, 0, "127.0.0.1");
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("inference HTTP server", () => {
  it("serves the typed health query over /trpc to a real tRPC client", async () => {
    const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: `${baseUrl}/trpc` })] });
    const health = await client.health.query();
    expect(health.status).toBe("ok");
    expect(health.service).toBe("tts-inference");
    expect(health.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(health.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(health.onnxRuntime.version).toMatch(/^1\.\d+\.\d+/);
    expect(health.onnxRuntime.backends.find((b) => b.name === "cpu")).toEqual({
      name: "cpu",
      available: true,
    });
    // No GPU install here: CUDA is reported, unavailable, with the way to enable it.
    const cuda = health.onnxRuntime.backends.find((b) => b.name === "cuda");
    expect(cuda?.available).toBe(false);
    expect(cuda?.detail).toMatch(/gpu:install/);
  });

  it("answers an unknown procedure with a typed NOT_FOUND error", async () => {
    const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: `${baseUrl}/trpc` })] });
    const call = (client as unknown as { nope: { query: () => Promise<unknown> } }).nope.query();
    await expect(call).rejects.toBeInstanceOf(TRPCClientError);
    await expect(call).rejects.toMatchObject({ data: { code: "NOT_FOUND", httpStatus: 404 } });
  });

  it("serves /healthz for liveness probes", async () => {
    const res = await fetch(`${baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers unknown paths with a JSON 404 naming the path", async () => {
    const res = await fetch(`${baseUrl}/play/abc`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: "NOT_FOUND", message: "No route for GET /play/abc" } });
  });

  it("allows CORS preflight and reads only from allowlisted origins", async () => {
    const preflight = await fetch(`${baseUrl}/trpc/health`, {
      method: "OPTIONS",
      headers: { Origin: allowedOrigin, "Access-Control-Request-Method": "GET" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(allowedOrigin);

    const allowed = await fetch(`${baseUrl}/trpc/health`, { headers: { Origin: allowedOrigin } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(allowedOrigin);

    const denied = await fetch(`${baseUrl}/trpc/health`, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" },
    });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { code: "CORS_ORIGIN_NOT_ALLOWED" } });

    const simple = await fetch(`${baseUrl}/trpc/health`, { headers: { Origin: "https://evil.example" } });
    expect(simple.headers.get("access-control-allow-origin")).toBeNull();
  });
});
