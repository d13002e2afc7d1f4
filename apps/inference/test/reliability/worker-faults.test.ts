import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startTestNode, type TestNode } from "../support/node";

let testNode: TestNode;

beforeAll(async () => {
  // A bundle that never stops by itself: a job runs for as many tokens as it asks, long enough to be cut short.
  testNode = await startTestNode({}, { variant: "turbo", stopAfter: null });
});

afterAll(async () => {
  await testNode?.stop();
});

describe("an inference worker that dies mid-job", () => {
  it("fails that job clearly, keeps the job queued behind it, and serves the next one", async () => {
    const api = testNode.client();
    const engine = testNode.node.engine()!;
    const doomed = await api.tts.synthesize.mutate({ text: "This one will not finish.", maxTokens: 4000 });
    await expect.poll(async () => (await api.tts.get.query({ id: doomed.id })).status).toBe("running");
    const queued = await api.tts.synthesize.mutate({
      text: "Queued behind it.",
      maxTokens: 5,
      format: "wav",
    });
    expect((await api.tts.get.query({ id: queued.id })).status).toBe("queued");

    engine.simulateWorkerExit(0);

    const finished = (id: string) =>
      expect.poll(async () => (await api.tts.get.query({ id })).status, { timeout: 30_000 });
    await finished(doomed.id).toBe("failed");
    const failed = await api.tts.get.query({ id: doomed.id });
    expect(failed.error?.code).toBe("INTERNAL_SERVER_ERROR");
    expect(failed.audio).toBeNull();

    await finished(queued.id).toBe("done");
    const after = await api.tts.synthesize.mutate({ text: "And one more.", maxTokens: 5, format: "wav" });
    await finished(after.id).toBe("done");
    for (const id of [queued.id, after.id]) {
      const job = await api.tts.get.query({ id });
      expect(job.audio).toMatchObject({ contentType: "audio/wav" });
      expect(job.audio!.size).toBeGreaterThan(44);
      const audio = await fetch(`${testNode.url}${job.audio!.url}`);
      expect(audio.status).toBe(200);
      expect((await audio.arrayBuffer()).byteLength).toBe(job.audio!.size);
    }
    expect(engine.health()).toEqual({ workers: 1, wanted: 1, lastError: null });
  });
});
