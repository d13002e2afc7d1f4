import { describe, expect, it } from "vitest";

import { createCaller } from "../root";
import { testContext } from "../test-context";

/** A node retrying a download: the category and advice reach the caller as the node states them. */
const notReady = {
  state: "failed",
  variant: "turbo",
  dtype: "q4",
  provider: null,
  notReady: { category: "hub-unreachable", advice: "The model hub could not be reached. Retrying." },
  manifest: null,
  guidance: null,
  guidanceProblem: null,
} as const;

describe("health", () => {
  it("reports service, version, uptime, ONNX Runtime backends, model state, formats, limits and queue", async () => {
    const health = await createCaller(
      testContext({
        now: () => 1_012_500,
        onnxRuntime: {
          version: "1.30.0",
          backends: () => [
            { name: "cpu", available: true },
            { name: "cuda", available: false, detail: "CUDA provider library not installed" },
          ],
        },
        audioFormats: ["mp3", "flac", "wav", "pcm"],
        model: () => ({ ...notReady }),
        limits: { maxTextLength: 5_000, maxUploadBytes: 1_000_000 },
        queue: () => ({ queued: 3, running: 1 }),
      }),
    ).health();
    expect(health).toEqual({
      status: "ok",
      service: "tts-inference",
      version: "1.2.3",
      uptimeSeconds: 12.5,
      onnxRuntime: {
        version: "1.30.0",
        backends: [
          { name: "cpu", available: true },
          { name: "cuda", available: false, detail: "CUDA provider library not installed" },
        ],
      },
      model: notReady,
      audioFormats: ["mp3", "flac", "wav", "pcm"],
      limits: { maxTextLength: 5_000, maxUploadBytes: 1_000_000 },
      queue: { queued: 3, running: 1 },
    });
  });

  it("never reports negative uptime when the clock steps back", async () => {
    const health = await createCaller(testContext({ now: () => 999_000 })).health();
    expect(health.uptimeSeconds).toBe(0);
  });

  it("rejects a context whose backends break the output contract", async () => {
    const broken = testContext({
      onnxRuntime: { version: "1.30.0", backends: () => [{ name: "cpu" } as never] },
    });
    await expect(createCaller(broken).health()).rejects.toThrow(/Output validation failed/);
  });

  it("rejects a context that claims a format outside the API's list", async () => {
    const broken = testContext({ audioFormats: ["ogg" as never] });
    await expect(createCaller(broken).health()).rejects.toThrow(/Output validation failed/);
  });
});
