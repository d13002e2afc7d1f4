import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";

import { createCaller } from "../root";
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

  it("requires an API key for mutations but not for reads when keys are configured", async () => {
    const api = createCaller(testContext({ authorized: false }));
    const error = await rejection(api.voices.create(wavForm("x")));
    expect(error.code).toBe("UNAUTHORIZED");
    expect(error.message).toMatch(/Authorization: Bearer/);
    expect(await api.voices.list()).toEqual([]);
    expect((await rejection(api.tts.synthesize({ text: "hi" }))).code).toBe("UNAUTHORIZED");
    expect((await rejection(api.tts.delete({ id: "tts_00000000" }))).code).toBe("UNAUTHORIZED");
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

  it("maps service errors to their codes, keeping the retry hint", async () => {
    const api = createCaller(testContext());
    await api.tts.synthesize({ text: "one" });
    await api.tts.synthesize({ text: "two" });
    const full = await rejection(api.tts.synthesize({ text: "three" }));
    expect(full.code).toBe("TOO_MANY_REQUESTS");
    expect(full.message).toBe("The queue is full.");
    expect((await rejection(api.tts.get({ id: "tts_99999999" }))).message).toBe(
      "No job with id tts_99999999.",
    );
  });
});
