import { describe, expect, it } from "vitest";

import type { ApiContext } from "../../context";
import { createCaller } from "../../root";

function contextAt(nowMs: number, overrides: Partial<ApiContext> = {}): ApiContext {
  return {
    service: { name: "tts-inference", version: "1.2.3", startedAt: 1_000_000 },
    onnxRuntime: {
      version: "1.30.0",
      backends: () => [
        { name: "cpu", available: true },
        { name: "cuda", available: false, detail: "CUDA provider library not installed" },
      ],
    },
    now: () => nowMs,
    ...overrides,
  };
}

describe("health", () => {
  it("reports service, version, uptime and ONNX Runtime backends", async () => {
    const health = await createCaller(contextAt(1_012_500)).health();
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
    });
  });

  it("never reports negative uptime when the clock steps back", async () => {
    const health = await createCaller(contextAt(999_000)).health();
    expect(health.uptimeSeconds).toBe(0);
  });

  it("rejects a context whose backends break the output contract", async () => {
    const broken = contextAt(1_000_000, {
      onnxRuntime: { version: "1.30.0", backends: () => [{ name: "cpu" } as never] },
    });
    await expect(createCaller(broken).health()).rejects.toThrow(/Output validation failed/);
  });
});
