import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import { TRPCError } from "@trpc/server";
import { createHTTPServer } from "@trpc/server/adapters/standalone";
import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";

import type { ApiContext } from "../context";
import { ServiceError } from "../errors";
import { appRouter, createCaller, type AppRouter } from "../root";
import { synthesizeInput } from "../schemas/tts";
import { testContext } from "../test-context";

function wavForm(name?: string): FormData {
  const form = new FormData();
  form.set("file", new File([new Uint8Array([82, 73, 70, 70, 0, 0])], "my-voice.wav", { type: "audio/wav" }));
  if (name !== undefined) form.set("name", name);
  return form;
}

async function rejection(promise: Promise<unknown>): Promise<TRPCError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCError) return error;
    throw error;
  }
  throw new Error("expected a TRPCError");
}

/**
 * A tRPC client talking over real HTTP to the router behind tRPC's standalone adapter (the inference node's):
 * its errors are what clients see, shaped by the error formatter, which a server-side caller skips.
 */
async function httpClient(ctx: ApiContext) {
  const server = createHTTPServer({ router: appRouter, createContext: () => ctx });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no TCP address");
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `http://127.0.0.1:${address.port}` })] });
}

async function clientRejection(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as TRPCClientError<AppRouter>;
    throw error;
  }
  throw new Error("expected a TRPCClientError");
}

describe("voices router", () => {
  it("creates from form data (name from the field or the file name), lists, renames and deletes", async () => {
    const api = createCaller(testContext());
    const named = await api.voices.create(wavForm("Ada"));
    expect(named.name).toBe("Ada");
    const unnamed = await api.voices.create(wavForm());
    expect(unnamed.name).toBe("my-voice");
    expect((await api.voices.list()).map((v) => v.id)).toEqual([named.id, unnamed.id]);
    expect((await api.voices.rename({ id: named.id, name: "  Grace " })).name).toBe("Grace");
    expect(await api.voices.delete({ id: named.id })).toEqual({ id: named.id, deleted: true });
    expect((await rejection(api.voices.get({ id: named.id }))).code).toBe("NOT_FOUND");
  });

  it("refuses a form without a file, an empty name and path-like ids", async () => {
    const api = createCaller(testContext());
    const noFile = new FormData();
    noFile.set("name", "x");
    const error = await rejection(api.voices.create(noFile));
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toMatch(/`file` must be a WAV file/);
    expect((await rejection(api.voices.rename({ id: "voice_00000000", name: "   " }))).message).toMatch(
      /name must not be empty/,
    );
    const traversal = await rejection(api.voices.get({ id: "../../etc/passwd" }));
    expect(traversal.code).toBe("BAD_REQUEST");
    expect(traversal.message).toMatch(/must be an id/);
  });

  it("requires an API key for every voice and job procedure when keys are configured, not for health", async () => {
    const api = createCaller(testContext({ principal: null }));
    const error = await rejection(api.voices.create(wavForm("x")));
    expect(error.code).toBe("UNAUTHORIZED");
    expect(error.message).toMatch(/Authorization: Bearer/);
    expect((await rejection(api.voices.list())).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.voices.get({ id: "voice_00000000" }))).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.tts.list())).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.tts.get({ id: "tts_00000000" }))).code).toBe("UNAUTHORIZED");
    expect((await api.health()).status).toBe("ok");
    expect((await rejection(api.tts.synthesize({ text: "hi" }))).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.tts.delete({ id: "tts_00000000" }))).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.tts.cancel({ id: "tts_00000000" }))).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.tts.audioLink({ id: "tts_00000000" }))).code).toBe("UNAUTHORIZED");
  });
});

describe("ownership", () => {
  it("passes the caller's principal to services: another principal's voices and jobs are unknown ids", async () => {
    const shared = testContext();
    const alice = createCaller({ ...shared, principal: { id: "alice" } });
    const bob = createCaller({ ...shared, principal: { id: "bob" } });
    const voice = await alice.voices.create(wavForm("Ada"));
    const job = await alice.tts.synthesize({ text: "mine" });
    expect(await bob.voices.list()).toEqual([]);
    expect(await bob.tts.list()).toEqual([]);
    for (const attempt of [
      bob.voices.get({ id: voice.id }),
      bob.voices.rename({ id: voice.id, name: "stolen" }),
      bob.voices.delete({ id: voice.id }),
      bob.voices.audioLink({ id: voice.id }),
      bob.tts.get({ id: job.id }),
      bob.tts.delete({ id: job.id }),
      bob.tts.cancel({ id: job.id }),
      bob.tts.audioLink({ id: job.id }),
    ])
      expect((await rejection(attempt)).code).toBe("NOT_FOUND");
    expect((await alice.voices.get({ id: voice.id })).name).toBe("Ada");
    expect((await alice.voices.audioLink({ id: voice.id })).url).toBe(`/v1/voices/${voice.id}/audio?p=alice`);
    expect((await alice.tts.list()).map((j) => j.id)).toEqual([job.id]);
  });
});

describe("tts router", () => {
  it("queues a job with defaults and serves it back", async () => {
    const api = createCaller(testContext());
    const job = await api.tts.synthesize({ text: "  Hello  ", seed: 7 });
    expect(job).toMatchObject({ status: "queued", text: "Hello", format: "wav", voiceId: null, seed: 7 });
    expect(await api.tts.get({ id: job.id })).toEqual(job);
    expect(await api.tts.list()).toEqual([job]);
    const events = [];
    for await (const event of await api.tts.progress({ id: job.id })) events.push(event.type);
    expect(events).toEqual(["queued", "done"]);
  });

  it("links a job's audio for the caller (downloads ask for an attachment), and cancels a job", async () => {
    const api = createCaller({ ...testContext(), principal: { id: "alice" } });
    const job = await api.tts.synthesize({ text: "Link me." });
    expect(await api.tts.audioLink({ id: job.id })).toEqual({
      url: `/v1/audio/${job.id}?p=alice`,
      expiresAt: 2_000_000,
    });
    expect((await api.tts.audioLink({ id: job.id, format: "mp3", download: true })).url).toBe(
      `/v1/audio/${job.id}?p=alice&format=mp3&download=1`,
    );
    expect((await rejection(api.tts.audioLink({ id: "tts_99999999" }))).code).toBe("NOT_FOUND");
    expect((await api.tts.cancel({ id: job.id })).status).toBe("cancelled");
    // A job that ended without audio has nothing to link to.
    const none = await rejection(api.tts.audioLink({ id: job.id }));
    expect(none.code).toBe("NOT_FOUND");
    expect(none.message).toBe(`Job ${job.id} was cancelled; it has no audio.`);
  });

  it("answers progress for an unknown job with NOT_FOUND, though the error comes while streaming", async () => {
    const api = createCaller(testContext());
    const stream = await api.tts.progress({ id: "tts_99999999" });
    const error = await rejection(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    );
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toBe("No job with id tts_99999999.");
  });

  it("validates input with a message naming the field", async () => {
    const api = createCaller(testContext());
    const empty = await rejection(api.tts.synthesize({ text: "   " }));
    expect(empty.code).toBe("BAD_REQUEST");
    expect(empty.message).toMatch(/text must not be empty/);
    const wrongType = await rejection(api.tts.synthesize({ text: "hi", temperature: "hot" } as never));
    expect(wrongType.code).toBe("BAD_REQUEST");
    expect(wrongType.message).toMatch(/temperature/);
    expect((await rejection(api.tts.synthesize({ text: "hi", format: "ogg" } as never))).message).toMatch(
      /format/,
    );
  });

  it("gives clients the flattened zod issues of a bad input, field by field", async () => {
    const bad = { text: "   ", temperature: "hot" };
    const client = await httpClient(testContext());
    const error = await clientRejection(client.tts.synthesize.mutate(bad as never));
    const parsed = synthesizeInput.safeParse(bad);
    if (parsed.success) throw new Error("the bad input parsed");
    const expected = z.flattenError(parsed.error);
    // The schema itself must name both fields, or this would compare nothing.
    expect(Object.keys(expected.fieldErrors).sort()).toEqual(["temperature", "text"]);
    expect(error.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, retryAfterSeconds: null });
    expect(error.data?.zodError).toEqual(expected);
    expect(error.data).not.toHaveProperty("stack");
  });

  it("maps service errors to their codes, keeping the retry hint in what clients see", async () => {
    const ctx = testContext();
    const api = createCaller(ctx);
    await api.tts.synthesize({ text: "one" });
    await api.tts.synthesize({ text: "two" });
    const full = await rejection(api.tts.synthesize({ text: "three" }));
    expect(full.code).toBe("TOO_MANY_REQUESTS");
    expect(full.message).toBe("The queue is full.");
    expect((await rejection(api.tts.get({ id: "tts_99999999" }))).message).toBe(
      "No job with id tts_99999999.",
    );
    const { cause } = full;
    if (!(cause instanceof ServiceError)) throw new Error("the full queue did not raise a ServiceError");
    expect(cause.retryAfterSeconds).toBeGreaterThan(0);
    // A server-side caller skips the error formatter: the hint must survive the trip to a real client.
    const client = await httpClient(ctx);
    const seen = await clientRejection(client.tts.synthesize.mutate({ text: "three" }));
    expect(seen.message).toBe(cause.message);
    expect(seen.data).toMatchObject({
      code: "TOO_MANY_REQUESTS",
      httpStatus: 429,
      retryAfterSeconds: cause.retryAfterSeconds,
      zodError: null,
    });
    expect(seen.data).not.toHaveProperty("stack");
    // A service error without a hint says so explicitly.
    const missing = await clientRejection(client.tts.get.query({ id: "tts_99999999" }));
    expect(missing.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, retryAfterSeconds: null });
  });

  it("hides an unexpected failure's detail from clients, naming the request id instead", async () => {
    const ctx = testContext();
    ctx.tts.list = () => Promise.reject(new Error("ENOENT: /srv/tts/secret-path/index.json"));
    const client = await httpClient(ctx);
    const seen = await clientRejection(client.tts.list.query({}));
    expect(seen.data).toMatchObject({ code: "INTERNAL_SERVER_ERROR", httpStatus: 500 });
    expect(seen.message).toBe("Internal error; the server log has the details under request id req_test.");
    expect(JSON.stringify(seen.shape)).not.toContain("secret-path");
  });

  it("sends 507 for a full disk, with the service's message", async () => {
    const ctx = testContext();
    ctx.tts.synthesize = () => Promise.reject(new ServiceError("INSUFFICIENT_STORAGE", "The disk is full."));
    const client = await httpClient(ctx);
    const seen = await clientRejection(client.tts.synthesize.mutate({ text: "x" }));
    expect(seen.message).toBe("The disk is full.");
    expect(seen.data).toMatchObject({ code: "INTERNAL_SERVER_ERROR", httpStatus: 507 });
  });
});
