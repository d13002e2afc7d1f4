/**
 * The auth table: every HTTP route and every tRPC procedure, called without a credential, with the owner's and
 * with another principal's. A route or procedure added without an entry here fails the first test, so none
 * ships without deciding who may call it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { appRouter } from "@tts/api";

import { startTestNode, voiceWav, type TestNode } from "../support/node";

const ALICE = "alice-key-0123456789abcdef";
const BOB = "bob-key-0123456789abcdef0";

type Who = "anonymous" | "owner" | "other";
type Call = (who: Who) => Promise<{ status: number; body: string }>;

interface Row {
  call: Call;
  /** Status per caller; "hidden" = 200 but none of the owner's ids appear in the body. */
  expect: Record<Who, number | "hidden">;
}

let t: TestNode;
let voiceId = "";
let jobId = "";

const headers = (who: Who): Record<string, string> =>
  who === "anonymous" ? {} : { Authorization: `Bearer ${who === "owner" ? ALICE : BOB}` };

async function send(path: string, who: Who, init: RequestInit = {}) {
  const response = await fetch(`${t.url}${path}`, {
    ...init,
    headers: { ...headers(who), ...(init.headers as Record<string, string>) },
  });
  const body = await response.text();
  // Subscriptions answer 200 and carry a refusal as their first event: its status is the one that counts.
  const streamed = response.headers.get("content-type")?.startsWith("text/event-stream")
    ? /^data: \{"message":.*"httpStatus":(\d+)/m.exec(body)
    : null;
  return { status: streamed ? Number(streamed[1]) : response.status, body };
}

const query = (procedure: string, input?: unknown) => (who: Who) =>
  send(
    `/trpc/${procedure}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}`,
    who,
  );
const mutation = (procedure: string, input: unknown) => (who: Who) =>
  send(`/trpc/${procedure}`, who, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(input),
  });

/** Every tRPC procedure; by-id ones name the owner's records (filled in once they exist). */
const procedures: Record<string, () => Row> = {
  health: () => ({ call: query("health"), expect: { anonymous: 200, owner: 200, other: 200 } }),
  "tts.synthesize": () => ({
    // Another principal may not speak with the owner's voice.
    call: mutation("tts.synthesize", { text: "Hello there.", voiceId, maxTokens: 4 }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "tts.get": () => ({
    call: query("tts.get", { id: jobId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "tts.list": () => ({
    call: query("tts.list", {}),
    expect: { anonymous: 401, owner: 200, other: "hidden" },
  }),
  "tts.progress": () => ({
    call: query("tts.progress", { id: jobId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  // The owner's job is done: cancelling it returns it unchanged (its audio is kept).
  "tts.cancel": () => ({
    call: mutation("tts.cancel", { id: jobId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "tts.audioLink": () => ({
    call: query("tts.audioLink", { id: jobId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "tts.delete": () => ({
    call: mutation("tts.delete", { id: jobId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "voices.create": () => ({
    call: (who) => {
      const form = new FormData();
      form.set("file", new File([voiceWav()], "v.wav", { type: "audio/wav" }));
      return send("/trpc/voices.create", who, { method: "POST", body: form });
    },
    expect: { anonymous: 401, owner: 200, other: 200 },
  }),
  "voices.list": () => ({
    call: query("voices.list"),
    expect: { anonymous: 401, owner: 200, other: "hidden" },
  }),
  "voices.get": () => ({
    call: query("voices.get", { id: voiceId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "voices.audioLink": () => ({
    call: query("voices.audioLink", { id: voiceId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "voices.rename": () => ({
    call: mutation("voices.rename", { id: voiceId, name: "Renamed" }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "voices.delete": () => ({
    call: mutation("voices.delete", { id: voiceId }),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
};

const speech = (voice: string) => (who: Who) =>
  send("/v1/audio/speech", who, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "tts-1", input: "Hi.", voice, response_format: "wav", max_tokens: 4 }),
  });

/** Every plain HTTP route, by the name the server gives it. */
const routes: Record<string, () => Row> = {
  "/healthz": () => ({
    call: (who) => send("/healthz", who),
    expect: { anonymous: 200, owner: 200, other: 200 },
  }),
  "/readyz": () => ({
    call: (who) => send("/readyz", who),
    expect: { anonymous: 200, owner: 200, other: 200 },
  }),
  "/metrics": () => ({
    call: (who) => send("/metrics", who),
    expect: { anonymous: 401, owner: 200, other: 200 },
  }),
  "/v1/audio/speech": () => ({ call: speech(voiceId), expect: { anonymous: 401, owner: 200, other: 404 } }),
  "/v1/models": () => ({
    call: (who) => send("/v1/models", who),
    expect: { anonymous: 200, owner: 200, other: 200 },
  }),
  "/v1/audio/models": () => ({
    call: (who) => send("/v1/audio/models", who),
    expect: { anonymous: 200, owner: 200, other: 200 },
  }),
  // Open, but the voice library in it only for its owner.
  "/v1/audio/voices": () => ({
    call: (who) => send("/v1/audio/voices", who),
    expect: { anonymous: "hidden", owner: 200, other: "hidden" },
  }),
  "/v1/audio/{id}": () => ({
    call: (who) => send(`/v1/audio/${jobId}`, who),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
  "/v1/voices/{id}/audio": () => ({
    call: (who) => send(`/v1/voices/${voiceId}/audio`, who),
    expect: { anonymous: 401, owner: 200, other: 404 },
  }),
};

/** Runs a row as anonymous, the other principal and then the owner (whose call may delete the record). */
async function check(name: string, row: Row) {
  for (const who of ["anonymous", "other", "owner"] as const) {
    const { status, body } = await row.call(who);
    const expected = row.expect[who];
    const label = `${name} as ${who}: ${status} ${body.slice(0, 200)}`;
    if (expected === "hidden") {
      expect(status, label).toBe(200);
      expect(body, label).not.toContain(voiceId);
      expect(body, label).not.toContain(jobId);
    } else expect(status, label).toBe(expected);
    if (expected === 200 && who === "owner" && name !== "voices.create") {
      // The owner sees its own records where the others saw none.
      if (name.endsWith(".list") || name === "/v1/audio/voices") expect(body, label).toMatch(/voice_|tts_/);
    }
  }
}

async function makeRecords() {
  const form = new FormData();
  form.set("file", new File([voiceWav()], "mine.wav", { type: "audio/wav" }));
  const voice = await t.client(ALICE).voices.create.mutate(form);
  voiceId = voice.id;
  const job = await t.client(ALICE).tts.synthesize.mutate({ text: "Mine.", voiceId, maxTokens: 4 });
  jobId = job.id;
  for (let i = 0; i < 200; i++) {
    const seen = await t.client(ALICE).tts.get.query({ id: jobId });
    if (seen.status === "done") return;
    if (seen.status === "failed") throw new Error(seen.error?.message);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the owner's job did not finish");
}

describe("auth table: who may call what", () => {
  beforeAll(async () => {
    t = await startTestNode({ apiKeys: [`alice:${ALICE}`, `bob:${BOB}`] });
    await makeRecords();
  });
  afterAll(() => t.stop());

  it("lists every route and every procedure the node serves", () => {
    expect(Object.keys(procedures).sort()).toEqual(Object.keys(appRouter._def.procedures).sort());
    expect(Object.keys(routes).sort()).toEqual([...t.node.routeNames].sort());
  });

  // Reading rows before mutating ones: deletes run last.
  const order = [
    ...Object.keys(routes).map((name) => ["route", name] as const),
    ...Object.keys(procedures)
      .filter((name) => !name.endsWith(".delete"))
      .map((name) => ["procedure", name] as const),
    ["procedure", "tts.delete"] as const,
    ["procedure", "voices.delete"] as const,
  ];
  it.each(order)("%s %s", async (kind, name) => {
    const row = kind === "route" ? routes[name]!() : procedures[name]!();
    await check(name, row);
  });
});

describe("operator aliases", () => {
  it("let every principal speak with an aliased voice, while only its owner lists, renames or deletes it", async () => {
    const form = new FormData();
    form.set("file", new File([voiceWav()], "narrator.wav", { type: "audio/wav" }));
    // The operator uploads the voice with its own key, then maps a name to it and restarts.
    const first = await startTestNode({ apiKeys: [`ops:${ALICE}`, `bob:${BOB}`] });
    const voice = await first.client(ALICE).voices.create.mutate(form);
    await first.node.shutdown();
    const aliased = await startTestNode({
      apiKeys: [`ops:${ALICE}`, `bob:${BOB}`],
      dataDir: first.settings.dataDir,
      voiceAliases: new Map([["narrator", voice.id]]),
    });
    try {
      const speech = await fetch(`${aliased.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${BOB}` },
        body: JSON.stringify({
          model: "tts-1",
          input: "Hi.",
          voice: "narrator",
          response_format: "wav",
          max_tokens: 4,
        }),
      });
      expect(speech.status).toBe(200);
      await speech.arrayBuffer();
      const bob = aliased.client(BOB);
      expect(
        (await bob.tts.synthesize.mutate({ text: "Hi.", voiceId: voice.id, maxTokens: 4 })).voiceId,
      ).toBe(voice.id);
      expect(await bob.voices.list.query()).toEqual([]);
      await expect(bob.voices.delete.mutate({ id: voice.id })).rejects.toThrow(/No voice/);
      expect((await aliased.client(ALICE).voices.get.query({ id: voice.id })).id).toBe(voice.id);
    } finally {
      await aliased.stop();
      await first.stop();
    }
  });
});
