import { request } from "node:http";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { decodeWav } from "@tts/audio";

import { startTestNode, type TestNode } from "./support/node";

let t: TestNode;

beforeAll(async () => {
  t = await startTestNode(
    { maxTextLength: 100_000, maxJsonBytes: 1_000_000 },
    { variant: "turbo", stopAfter: null },
  );
});

afterAll(async () => {
  await t?.stop();
});

interface Timed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  /** Milliseconds from sending the request to the first body bytes that carry audio, and to the end. */
  firstAudioMs: number;
  totalMs: number;
}

/** A request over node:http, timing when audio first arrives (`hasAudio` says whether the body so far has any). */
function timed(
  method: string,
  path: string,
  body: unknown,
  hasAudio: (received: Uint8Array) => boolean,
): Promise<Timed> {
  const url = new URL(path, t.url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { method, headers: { "Content-Type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      let firstAudioMs = Number.NaN;
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        if (Number.isNaN(firstAudioMs) && hasAudio(Buffer.concat(chunks)))
          firstAudioMs = performance.now() - started;
      });
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          firstAudioMs,
          totalMs: performance.now() - started,
        }),
      );
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const FORMATS = [
  { name: "wav", response_format: "wav", hasAudio: (b: Uint8Array) => b.length > 44 },
  { name: "pcm", response_format: "pcm", hasAudio: (b: Uint8Array) => b.length > 0 },
  { name: "mp3", response_format: "mp3", hasAudio: (b: Uint8Array) => b.length > 0 },
  {
    name: "SSE",
    response_format: "wav",
    stream_format: "sse",
    hasAudio: (b: Uint8Array) => Buffer.from(b).toString("utf8").includes('"speech.audio.delta"'),
  },
] as const;

describe("/v1/audio/speech streams while it generates", () => {
  it.each(FORMATS)(
    "$name: the first audio arrives within the first third of a 1000-token synthesis",
    async ({ name: _name, hasAudio, ...format }) => {
      const res = await timed(
        "POST",
        "/v1/audio/speech",
        { model: "tts-1", input: "A long one, to see it stream.", maxTokens: 1000, seed: 5, ...format },
        hasAudio,
      );
      expect(res.status).toBe(200);
      expect(res.headers["content-length"]).toBeUndefined();
      expect(res.headers["transfer-encoding"]).toBe("chunked");
      const job = await t.client().tts.get.query({ id: String(res.headers["x-audio-id"]) });
      expect(job.tokens).toBe(1000);
      expect(res.firstAudioMs).toBeLessThan(res.totalMs / 3);
    },
  );
});

describe("GET /v1/audio/{id} follows a running job, then serves the finished file", () => {
  it("streams what exists and the rest as it is made, and the finished file holds exactly those samples", async () => {
    const api = t.client();
    const job = await api.tts.synthesize.mutate({ text: "Follow me while I speak.", maxTokens: 1000 });
    let statusAtFirstAudio = "";
    const live = await timed("GET", `/v1/audio/${job.id}`, undefined, (received) => {
      if (received.length > 44 && !statusAtFirstAudio) {
        void api.tts.get.query({ id: job.id }).then((j) => (statusAtFirstAudio = j.status));
        return true;
      }
      return false;
    });
    expect(live.status).toBe(200);
    expect(live.headers["content-length"]).toBeUndefined();
    expect(live.headers["accept-ranges"]).toBe("none");
    expect(statusAtFirstAudio).toBe("running");
    await expect.poll(async () => (await api.tts.get.query({ id: job.id })).status).toBe("done");

    const stored = await fetch(`${t.url}/v1/audio/${job.id}`);
    const storedBytes = new Uint8Array(await stored.arrayBuffer());
    expect(stored.headers.get("content-length")).toBe(String(storedBytes.length));
    expect(stored.headers.get("accept-ranges")).toBe("bytes");
    expect(decodeWav(storedBytes).samples).toEqual(decodeWav(live.body).samples);
    expect(decodeWav(storedBytes).samples.length).toBeGreaterThan(960 * 900);
    const range = await fetch(`${t.url}/v1/audio/${job.id}`, { headers: { Range: "bytes=100-199" } });
    expect(range.status).toBe(206);
    expect(new Uint8Array(await range.arrayBuffer())).toEqual(storedBytes.subarray(100, 200));
  });
});

describe("text of any length", () => {
  it("synthesizes a 20,000-character job sentence by sentence, with per-chunk progress and a preview in lists", async () => {
    const api = t.client();
    const sentence = (i: number) => `Sentence number ${i} goes here, with a clause or two; then it ends.`;
    // Paragraphs of five sentences.
    const text = Array.from({ length: 300 }, (_, i) => sentence(i) + (i % 5 === 4 ? "\n\n" : " ")).join("");
    expect(text.length).toBeGreaterThan(20_000);
    const job = await api.tts.synthesize.mutate({ text, maxTokens: 3, format: "pcm" });
    const progress: { chunksDone: number; chunks: number; audioSeconds: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      const sub = api.tts.progress.subscribe(
        { id: job.id },
        {
          onData: (event) => {
            if (event.type === "running") progress.push(event);
            if (event.type === "done" || event.type === "failed") {
              sub.unsubscribe();
              if (event.type === "failed") reject(new Error(event.reason));
              else resolve();
            }
          },
          onError: reject,
        },
      );
    });
    const chunks = progress.at(-1)!.chunks;
    expect(chunks).toBeGreaterThan(60);
    expect(progress.at(-1)!.chunksDone).toBe(chunks);
    const done = progress.map((p) => p.chunksDone);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    const seconds = progress.map((p) => p.audioSeconds);
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));

    const full = await api.tts.get.query({ id: job.id });
    expect(full.text).toBe(text.trim());
    expect(full.tokens).toBeLessThanOrEqual(3 * chunks);
    const listed = (await api.tts.list.query()).find((j) => j.id === job.id)!;
    expect(listed.text).toBe(`${text.slice(0, 200)}…`);
  });

  it("puts the configured pause after each chunk: longer after a paragraph than after a sentence", async () => {
    const paced = await startTestNode(
      { split: { minChars: 1, pauses: { paragraph: 400, sentence: 100, clause: 50 } } },
      { variant: "turbo", stopAfter: 5 },
    );
    try {
      const res = await fetch(`${paced.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: "tts-1",
          input: "One here. Two here.\n\nThree here.",
          response_format: "wav",
        }),
      });
      const samples = decodeWav(new Uint8Array(await res.arrayBuffer())).samples;
      // Runs of exact silence longer than 10 ms: the pauses (the tiny voice is never that quiet for long).
      const runs: number[] = [];
      let run = 0;
      for (const sample of [...samples, 1]) {
        if (sample === 0) run++;
        else {
          if (run > 240) runs.push(run);
          run = 0;
        }
      }
      // In ms, to the nearest 10 (a faded edge sample may round to zero).
      expect(runs.map((length) => Math.round(length / 240) * 10)).toEqual([100, 400]);
    } finally {
      await paced.stop();
    }
  });

  it("gives a many-chunk job the longest timer Node allows, not one that overflows and fires at once", async () => {
    const patient = await startTestNode(
      { jobTimeoutSeconds: 7 * 24 * 3600, split: { minChars: 1 } },
      { variant: "turbo", stopAfter: 2 },
    );
    try {
      const api = patient.client();
      const job = await api.tts.synthesize.mutate({ text: "One. Two. Three. Four. Five." });
      await expect.poll(async () => (await api.tts.get.query({ id: job.id })).status).toBe("done");
    } finally {
      await patient.stop();
    }
  });

  it("still refuses a text over the configured limit, and /v1/audio/speech keeps its per-request limit", async () => {
    const api = t.client();
    await expect(api.tts.synthesize.mutate({ text: "a".repeat(100_001) })).rejects.toThrow(
      "The text is 100001 characters; the limit is 100000.",
    );
    const res = await fetch(`${t.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tts-1", input: "b".repeat(301) }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { message: expect.stringMatching(/^The input is 301 characters; the limit is 300 per request/) },
    });
  });
});
