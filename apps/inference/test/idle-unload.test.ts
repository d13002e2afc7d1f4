import { afterEach, describe, expect, it } from "vitest";

import { createLogger } from "../src/logger";
import { settleJob, startTestNode, type TestNode } from "./support/node";

const started: TestNode[] = [];
afterEach(async () => {
  for (const t of started.splice(0)) await t.stop();
});

describe("idle unload", () => {
  it("releases the model after a quiet period, stays ready, and reloads for the next job", async () => {
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    const t = await startTestNode({ idleUnloadSeconds: 0.3 }, { variant: "turbo", stopAfter: 12 }, logger);
    started.push(t);
    const first = await settleJob(
      t,
      (await t.client().tts.synthesize.mutate({ text: "Before the pause." })).id,
    );
    expect(first.status).toBe("done");
    // The engine is dropped first, then closed, then the unload is logged: wait for the log line.
    await expect
      .poll(() => lines.some((line) => line.includes("model unloaded while idle")), { timeout: 5000 })
      .toBe(true);
    expect(t.node.engine()).toBeUndefined();
    // Unloaded is not unready: the next request pays the reload, nobody is turned away.
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    expect((await t.client().health.query()).model.notReady).toBeNull();
    const second = await settleJob(
      t,
      (await t.client().tts.synthesize.mutate({ text: "After the pause." })).id,
    );
    expect(second.status).toBe("done");
    expect(t.node.engine()).toBeDefined();
    const reload = lines
      .map((line) => JSON.parse(line) as { msg: string; reloadMs?: number })
      .find((l) => l.msg === "model reloaded");
    expect(reload?.reloadMs).toBeGreaterThan(0);
  });

  it("keeps the model while jobs run, and never unloads with the default of 0", async () => {
    const t = await startTestNode({ idleUnloadSeconds: 0.2 }, { variant: "turbo", stopAfter: null });
    started.push(t);
    const long = await t.client().tts.synthesize.mutate({ text: "A long one.", maxTokens: 800 });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(t.node.engine()).toBeDefined();
    expect((await settleJob(t, long.id)).status).toBe("done");
    const kept = await startTestNode();
    started.push(kept);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(kept.node.engine()).toBeDefined();
  });
});
