import { describe, expect, it } from "vitest";

import { checkExposure, isLoopback } from "../src/http/exposure";
import { runCli } from "./support/cli";

describe("who can reach a node without keys", () => {
  it("knows loopback addresses from the rest", () => {
    expect(["127.0.0.1", "127.8.9.10", "::1", "localhost"].map(isLoopback)).toEqual([true, true, true, true]);
    expect(["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com"].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it("serves loopback or keyed nodes as asked, refuses an open one, and warns when it is opted into", () => {
    expect(checkExposure({ host: "127.0.0.1", apiKeys: [], allowAnonymous: false })).toEqual({});
    expect(checkExposure({ host: "0.0.0.0", apiKeys: ["k".repeat(16)], allowAnonymous: false })).toEqual({});
    // A session secret closes the node too: only signed browser sessions get in.
    expect(
      checkExposure({ host: "0.0.0.0", apiKeys: [], sessionSecret: "s".repeat(32), allowAnonymous: false }),
    ).toEqual({});
    expect(() => checkExposure({ host: "0.0.0.0", apiKeys: [], allowAnonymous: false })).toThrow(
      /Refusing to listen on 0.0.0.0 without API_KEYS.*ALLOW_ANONYMOUS=true/,
    );
    expect(checkExposure({ host: "0.0.0.0", apiKeys: [], allowAnonymous: true }).warning).toMatch(
      /without API keys \(ALLOW_ANONYMOUS=true\)/,
    );
  });

  it("`tts serve --host 0.0.0.0` without keys stops at once with what to do", async () => {
    const run = await runCli(["serve", "--host", "0.0.0.0", "--port", "0"], {
      API_KEYS: "",
      ALLOW_ANONYMOUS: "",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Refusing to listen on 0.0.0.0 without API_KEYS/);
  });
});

describe("CORS for any origin", () => {
  it("answers a literal * (not the caller's origin) when CORS_ORIGINS is *", async () => {
    const { startTestNode } = await import("./support/node");
    const open = await startTestNode({ corsOrigins: ["*"] });
    try {
      const res = await fetch(`${open.url}/trpc/health`, { headers: { Origin: "https://anywhere.example" } });
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("vary")?.split(/,\s*/)).toContain("Origin");
    } finally {
      await open.stop();
    }
  });
});

describe("limits on what one request may ask", () => {
  it("refuses a tRPC batch over the limit and a header block over 16 KiB, and keeps serving", async () => {
    const { startTestNode } = await import("./support/node");
    const { MAX_BATCH_SIZE } = await import("../src/http/server");
    const node = await startTestNode();
    try {
      const paths = Array.from({ length: MAX_BATCH_SIZE + 1 }, () => "health").join(",");
      const batch = await fetch(`${node.url}/trpc/${paths}?batch=1&input=${encodeURIComponent("{}")}`);
      expect(batch.status).toBe(400);
      expect(await batch.text()).toContain("Batch call exceeds maximum size");
      const withinLimit = Array.from({ length: MAX_BATCH_SIZE }, () => "health").join(",");
      expect(
        (await fetch(`${node.url}/trpc/${withinLimit}?batch=1&input=${encodeURIComponent("{}")}`)).status,
      ).toBe(200);
      const huge = await fetch(`${node.url}/healthz`, { headers: { "X-Padding": "x".repeat(20_000) } });
      expect(huge.status).toBe(431);
      expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    } finally {
      await node.stop();
    }
  });
});
