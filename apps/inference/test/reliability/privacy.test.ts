/**
 * Privacy: the log never holds what users said (input text) or their audio, at any level; voices and job texts
 * go when their retention ends.
 */
import { afterEach, describe, expect, it } from "vitest";

import { encodeWav } from "@tts/audio";

import { syntheticVoice } from "../../src/engine/synthetic-voice";
import { createLogger } from "../../src/logger";
import type { NodeSettings } from "../../src/node";
import { settleJob, startTestNode, type TestNode } from "../support/node";

const CANARY = "Zanzibar-canary-7f3e";

const started: TestNode[] = [];
afterEach(async () => {
  for (const t of started.splice(0)) await t.stop();
});

async function node(overrides: Partial<NodeSettings>, lines: string[] = []) {
  const logger = createLogger("trace", { write: (line: string) => void lines.push(line) });
  const t = await startTestNode(overrides, { variant: "turbo", stopAfter: 12 }, logger);
  started.push(t);
  return t;
}

const post = (t: TestNode, path: string, body: unknown) =>
  fetch(`${t.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

describe("logs", () => {
  it("never contain input text, whatever happens to the request, even at trace level", async () => {
    const lines: string[] = [];
    const t = await node({ maxTextLength: 300 }, lines);
    const say = `${CANARY} says hello.`;
    expect((await settleJob(t, (await t.client().tts.synthesize.mutate({ text: say })).id)).status).toBe(
      "done",
    );
    expect(
      (await post(t, "/v1/audio/speech", { model: "tts-1", input: say, response_format: "wav" })).status,
    ).toBe(200);
    // Refused inputs: too long, bad fields, malformed JSON, an unknown voice, a bad request target.
    expect((await post(t, "/trpc/tts.synthesize", { text: `${CANARY} `.repeat(100) })).status).toBe(400);
    expect((await post(t, "/trpc/tts.synthesize", { text: say, temperature: CANARY })).status).toBe(400);
    expect([400, 404]).toContain(
      (await post(t, "/v1/audio/speech", { model: "tts-1", input: say, voice: CANARY })).status,
    );
    const malformed = await fetch(`${t.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: `{"input": "${CANARY}`,
    });
    expect(malformed.status).toBe(400);
    expect((await fetch(`${t.url}//x:99999?input=${CANARY}`)).status).toBe(400);
    const form = new FormData();
    form.set("name", CANARY);
    form.set("file", new File([encodeWav(syntheticVoice(3, 7), 24_000)], `${CANARY}.wav`));
    await t.client().voices.create.mutate(form);

    // Failed jobs log why, not what they were saying.
    const failing = await node({ jobTimeoutSeconds: 0.001 }, lines);
    const failed = await settleJob(failing, (await failing.client().tts.synthesize.mutate({ text: say })).id);
    expect(failed.status).toBe("failed");

    // The log did record these requests (so its silence about the text means something).
    expect(lines.filter((line) => line.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(8);
    expect(lines.filter((line) => line.includes(CANARY))).toEqual([]);
  });
});

describe("retention", () => {
  it("forgets voices after VOICE_TTL_SECONDS", async () => {
    const t = await node({ voiceTtlSeconds: 1 });
    const form = new FormData();
    form.set("file", new File([encodeWav(syntheticVoice(3, 7), 24_000)], "v.wav"));
    const voice = await t.client().voices.create.mutate(form);
    expect(await t.client().voices.list.query()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await t.client().voices.list.query()).toEqual([]);
    await expect(t.client().voices.get.query({ id: voice.id })).rejects.toThrow(/No voice/);
  });

  it("keeps a failed job's text only as long as audio would have been kept", async () => {
    const t = await node({ audioTtlSeconds: 1, jobTimeoutSeconds: 0.001 });
    const failed = await settleJob(
      t,
      (await t.client().tts.synthesize.mutate({ text: `${CANARY} failed.` })).id,
    );
    expect(failed).toMatchObject({ status: "failed", text: `${CANARY} failed.` });
    expect(JSON.stringify(await t.client().tts.list.query({}))).toContain(CANARY);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await t.client().tts.list.query({})).toEqual([]);
    await expect(t.client().tts.get.query({ id: failed.id })).rejects.toThrow(/No job/);
  });
});
