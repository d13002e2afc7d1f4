// The web app and the inference node deploy separately, so a node must keep serving the web build before it:
// API changes stay additive. This test takes packages/api as it was at the previous release (from git), and
// makes every call that release's web app makes, with that release's own client links and session tokens,
// against the current node; each answer must parse with that release's output schemas.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createTRPCClient } from "@trpc/client";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { z } from "zod";

import { settleJob, startTestNode, voiceForm, type TestNode } from "./support/node";

/**
 * The last release of the web app: the commit its build came from. Move it forward when a web build is
 * released (docs/many-nodes.md); the node must then keep that build working.
 */
const PREVIOUS_RELEASE = "e6063689fede4b3f18a35ba3319460aa617e4ca2";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
// Under this package (ignored by git and by test discovery), so the old modules' imports (zod, @trpc/*) resolve
// from its node_modules.
const snapshot = path.join(root, "apps/inference/.cache/previous-release");

/** What the test uses of the old package: its modules as they were. */
interface PreviousApi {
  client: { apiLinks: (options: Record<string, unknown>) => never[] };
  token: { mintSessionToken: (secret: string, o: { session: string }) => { token: string } };
  schemas: Record<string, z.ZodType>;
}

async function previousApi(): Promise<PreviousApi> {
  try {
    execFileSync("git", ["cat-file", "-e", `${PREVIOUS_RELEASE}^{commit}`], { cwd: root, stdio: "ignore" });
  } catch {
    throw new Error(
      `Commit ${PREVIOUS_RELEASE} (the previous release) is not in this clone; a shallow clone needs ` +
        "`git fetch --unshallow` (CI: actions/checkout with fetch-depth: 0).",
    );
  }
  rmSync(snapshot, { recursive: true, force: true });
  mkdirSync(snapshot, { recursive: true });
  const archive = execFileSync("git", ["archive", PREVIOUS_RELEASE, "packages/api/src"], { cwd: root });
  execFileSync("tar", ["-x", "-C", snapshot], { input: archive });
  const src = path.join(snapshot, "packages/api/src");
  const load = (file: string) => import(path.join(src, file)) as Promise<Record<string, unknown>>;
  const [client, token, tts, voices, health] = await Promise.all([
    load("client.ts"),
    load("auth/session-token.ts"),
    load("schemas/tts.ts"),
    load("schemas/voices.ts"),
    load("schemas/health.ts"),
  ]);
  return {
    client: client as PreviousApi["client"],
    token: token as PreviousApi["token"],
    schemas: { ...tts, ...voices, ...health } as Record<string, z.ZodType>,
  };
}

const SECRET = "the-web-and-the-node-share-it-0123";
let old: PreviousApi;
let t: TestNode;

beforeAll(async () => {
  old = await previousApi();
  t = await startTestNode({ sessionSecret: SECRET, apiKeys: ["ops:ops-key-0123456789abcdef"] });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  rmSync(snapshot, { recursive: true, force: true });
});

it("the previous web build's calls work on the current node, and their answers parse with its schemas", async () => {
  // A browser session as that release's web server mints it.
  const { token } = old.token.mintSessionToken(SECRET, { session: "previous-release-session" });
  const api = createTRPCClient<never>({
    links: old.client.apiLinks({
      url: `${t.url}/trpc`,
      headers: () => ({ Authorization: `Bearer ${token}` }),
      EventSource,
    }),
  }) as unknown as PreviousClient;
  const parse = (schema: string, value: unknown) => old.schemas[schema]!.parse(value);

  parse("healthOutputSchema", await api.health.query());
  const voice = parse("voiceSchema", await api.voices.create.mutate(voiceForm("old.wav"))) as { id: string };
  const voices = (await api.voices.list.query()) as unknown[];
  expect(voices.map((item) => (parse("voiceSchema", item) as { id: string }).id)).toContain(voice.id);
  parse("audioLinkSchema", await api.voices.audioLink.query({ id: voice.id }));

  const job = parse(
    "jobSchema",
    await api.tts.synthesize.mutate({ text: "Said by the previous release.", voiceId: voice.id }),
  ) as { id: string };
  const events: unknown[] = [];
  await new Promise<void>((resolve, reject) => {
    const subscription = api.tts.progress.subscribe(
      { id: job.id },
      {
        onData: (event: { type: string }) => {
          events.push(parse("jobProgressSchema", event));
          if (event.type === "done" || event.type === "failed") {
            subscription.unsubscribe();
            resolve();
          }
        },
        onError: reject,
      },
    );
  });
  expect(events.at(-1)).toMatchObject({ type: "done" });
  expect(parse("jobSchema", await api.tts.get.query({ id: job.id }))).toMatchObject({ status: "done" });
  const listed = (await api.tts.list.query({ limit: 50 })) as unknown[];
  for (const item of listed) parse("jobSchema", item);
  const link = parse("audioLinkSchema", await api.tts.audioLink.query({ id: job.id, format: "wav" })) as {
    url: string;
  };
  expect((await fetch(new URL(link.url, t.url))).status).toBe(200);

  const long = (await api.tts.synthesize.mutate({
    text: "Cancelled by the old client.",
    maxTokens: 4000,
  })) as {
    id: string;
  };
  parse("jobSchema", await api.tts.cancel.mutate({ id: long.id }));
  await settleJob(t, long.id, token);
  await api.tts.delete.mutate({ id: job.id });
  await api.voices.delete.mutate({ id: voice.id });
  expect(((await api.tts.list.query({ limit: 50 })) as { id: string }[]).map((j) => j.id)).not.toContain(
    job.id,
  );
});

/** The old client, untyped: what matters is what goes over the wire and what comes back. */
type Call = { query: (input?: unknown) => Promise<unknown>; mutate: (input?: unknown) => Promise<unknown> };
interface PreviousClient {
  health: Call;
  voices: Record<"create" | "list" | "audioLink" | "delete", Call>;
  tts: Record<"synthesize" | "get" | "list" | "audioLink" | "cancel" | "delete", Call> & {
    progress: {
      subscribe: (
        input: unknown,
        handlers: { onData: (event: { type: string }) => void; onError: (error: unknown) => void },
      ) => { unsubscribe: () => void };
    };
  };
}
