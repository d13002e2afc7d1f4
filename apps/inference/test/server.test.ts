import { connect } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { decodeWav } from "@tts/audio";

import { startTestNode, trpcClientError, voiceWav, type TestNode } from "./support/node";

let t: TestNode;

beforeAll(async () => {
  t = await startTestNode();
});

afterAll(async () => {
  await t?.stop();
});

function wavUpload(bytes: Uint8Array, name = "Ada"): FormData {
  const form = new FormData();
  form.set("file", new File([bytes], "ada.wav", { type: "audio/wav" }));
  form.set("name", name);
  return form;
}

const speech = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/audio/speech`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

/** One HTTP/1.1 request written by hand, for targets that fetch would normalize or refuse to send. */
function rawRequest(target: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.end(`GET ${target} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
    );
    let response = "";
    socket.on("data", (chunk: Buffer) => (response += chunk.toString("utf8")));
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
      resolve({ status, body: response.slice(response.indexOf("\r\n\r\n") + 4) });
    });
  });
}

describe("operations routes", () => {
  it("health over the typed client reports the loaded model", async () => {
    const health = await t.client().health.query();
    expect(health.model).toEqual({
      state: "ready",
      variant: "turbo",
      dtype: "fp32",
      provider: "cpu",
      notReady: null,
      // A TTS_MODEL_DIR folder (the tiny bundle) has no manifest.
      manifest: "absent",
      // Turbo has no classifier-free guidance.
      guidance: "none",
      guidanceProblem: null,
    });
    expect(health.onnxRuntime.backends.find((b) => b.name === "cpu")?.available).toBe(true);
  });

  it("answers /healthz, /readyz, 404 and 405 as JSON with a request id", async () => {
    const live = await fetch(`${t.url}/healthz`);
    expect(await live.json()).toEqual({ status: "ok" });
    expect(live.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
    const missing = await fetch(`${t.url}/play/abc`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: { code: "NOT_FOUND", message: "No route for GET /play/abc" },
    });
    const wrongMethod = await fetch(`${t.url}/v1/audio/speech`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
  });

  it("allows CORS preflight only from allowlisted origins", async () => {
    const allowed = await fetch(`${t.url}/trpc/health`, {
      method: "OPTIONS",
      headers: { Origin: "http://app.test:3000", "Access-Control-Request-Method": "POST" },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://app.test:3000");
    const denied = await fetch(`${t.url}/v1/audio/speech`, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
    });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { code: "CORS_ORIGIN_NOT_ALLOWED" } });
    // Every answer varies by origin and is never sniffed or stored by the way.
    const plain = await fetch(`${t.url}/healthz`);
    expect(plain.headers.get("vary")).toBe("Origin");
    expect(plain.headers.get("x-content-type-options")).toBe("nosniff");
    expect(plain.headers.get("cache-control")).toBe("no-store");
    const api = await fetch(`${t.url}/trpc/health`);
    expect(api.headers.get("x-content-type-options")).toBe("nosniff");
    expect(api.headers.get("cache-control")).toBe("no-store");
  });
});

describe("the earlier service's jobs through the new API", () => {
  it("upload a voice, synthesize with it, follow progress, play, range-seek and delete (POST /synthesize, GET /play, POST /delete)", async () => {
    const api = t.client();
    const voice = await api.voices.create.mutate(wavUpload(voiceWav()));
    expect(voice).toMatchObject({ name: "Ada", sampleRate: 24_000 });
    expect(voice.durationSeconds).toBeGreaterThan(5);
    expect((await api.voices.list.query()).map((v) => v.id)).toContain(voice.id);

    const job = await api.tts.synthesize.mutate({
      text: "Hello from the new service.",
      voiceId: voice.id,
      seed: 3,
    });
    expect(job.status).toBe("queued");
    const events = await new Promise<string[]>((resolve, reject) => {
      const seen: string[] = [];
      const sub = api.tts.progress.subscribe(
        { id: job.id },
        {
          onData: (event) => {
            seen.push(event.type === "running" ? `running:${event.tokens}` : event.type);
            if (event.type === "done" || event.type === "failed") {
              sub.unsubscribe();
              resolve(seen);
            }
          },
          onError: reject,
        },
      );
    });
    expect(events.at(-1)).toBe("done");

    const done = await api.tts.get.query({ id: job.id });
    expect(done).toMatchObject({ status: "done", tokens: 12, seed: 3, voiceId: voice.id });
    const audio = await fetch(`${t.url}${done.audio!.url}`);
    expect(audio.status).toBe(200);
    expect(audio.headers.get("content-type")).toBe("audio/wav");
    const bytes = new Uint8Array(await audio.arrayBuffer());
    expect(Number(audio.headers.get("content-length"))).toBe(bytes.length);
    expect(decodeWav(bytes).samples.length % 960).toBe(0);

    const partial = await fetch(`${t.url}${done.audio!.url}`, { headers: { Range: "bytes=4-11" } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get("content-range")).toBe(`bytes 4-11/${bytes.length}`);
    expect(new Uint8Array(await partial.arrayBuffer())).toEqual(bytes.subarray(4, 12));
    const unsatisfiable = await fetch(`${t.url}${done.audio!.url}`, {
      headers: { Range: `bytes=${bytes.length}-` },
    });
    expect(unsatisfiable.status).toBe(416);

    expect((await api.tts.list.query()).map((j) => j.id)).toContain(job.id);
    await api.tts.delete.mutate({ id: job.id });
    expect((await fetch(`${t.url}${done.audio!.url}`)).status).toBe(404);
    expect((await trpcClientError(api.tts.get.query({ id: job.id }))).data?.code).toBe("NOT_FOUND");

    expect((await api.voices.rename.mutate({ id: voice.id, name: "Grace" })).name).toBe("Grace");
    await api.voices.delete.mutate({ id: voice.id });
    expect((await trpcClientError(api.voices.get.query({ id: voice.id }))).data?.code).toBe("NOT_FOUND");
  });

  it("a job reports the seed it drew, and replaying that seed replays the audio", async () => {
    const api = t.client();
    const audioOf = async (id: string) => {
      await expect
        .poll(async () => (await api.tts.get.query({ id })).status, { timeout: 20_000 })
        .toBe("done");
      const url = (await api.tts.get.query({ id })).audio!.url;
      return new Uint8Array(await (await fetch(`${t.url}${url}`)).arrayBuffer());
    };
    const text = "Seeded at random.";
    const drawn = await api.tts.synthesize.mutate({ text });
    expect(drawn.seed).toEqual(expect.any(Number));
    const replay = await api.tts.synthesize.mutate({ text, seed: drawn.seed! });
    const other = await api.tts.synthesize.mutate({ text, seed: (drawn.seed! + 1) % 2 ** 32 });
    const [drawnAudio, replayAudio, otherAudio] = await Promise.all(
      [drawn, replay, other].map((j) => audioOf(j.id)),
    );
    expect(replayAudio).toEqual(drawnAudio);
    expect(otherAudio).not.toEqual(drawnAudio);
  });

  it("OpenAI-compatible speech: wav, pcm, mp3 and SSE, each playable or parseable", async () => {
    const wav = await speech({
      model: "tts-1",
      input: "Hello.",
      voice: "alloy",
      response_format: "wav",
      seed: 1,
    });
    expect(wav.status).toBe(200);
    expect(wav.headers.get("content-type")).toBe("audio/wav");
    const audioId = wav.headers.get("x-audio-id");
    const wavBytes = new Uint8Array(await wav.arrayBuffer());
    expect(decodeWav(wavBytes).sampleRate).toBe(24_000);
    // Streamed with an unknown-length header; stored with the real sizes and exactly the streamed samples.
    expect(new DataView(wavBytes.buffer).getUint32(40, true)).toBe(0xffffffff);
    const stored = await fetch(`${t.url}/v1/audio/${audioId}`);
    const storedBytes = new Uint8Array(await stored.arrayBuffer());
    expect(stored.headers.get("content-length")).toBe(String(storedBytes.length));
    expect(new DataView(storedBytes.buffer).getUint32(40, true)).toBe(storedBytes.length - 44);
    expect(storedBytes.subarray(44)).toEqual(wavBytes.subarray(44));

    const pcm = await speech({ model: "chatterbox-turbo", input: "Hello.", response_format: "pcm", seed: 1 });
    expect(pcm.headers.get("content-type")).toBe("audio/pcm");
    expect((await pcm.arrayBuffer()).byteLength).toBe(wavBytes.length - 44);

    const mp3 = await speech({ model: "tts-1", input: "Hello.", seed: 1 });
    expect(mp3.headers.get("content-type")).toBe("audio/mpeg");
    const mp3Bytes = new Uint8Array(await mp3.arrayBuffer());
    expect(mp3Bytes[0]).toBe(0xff);

    // speed stretches time, not pitch: twice as fast is half as long.
    const fast = await speech({ model: "tts-1", input: "Hello.", response_format: "wav", seed: 1, speed: 2 });
    expect(fast.status).toBe(200);
    const fastSamples = decodeWav(new Uint8Array(await fast.arrayBuffer())).samples.length;
    expect(fastSamples).toBe(Math.round(decodeWav(wavBytes).samples.length / 2));

    const sse = await speech({
      model: "tts-1",
      input: "Hello.",
      response_format: "wav",
      stream_format: "sse",
      seed: 1,
    });
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    const events = (await sse.text())
      .split("\n\n")
      .filter(Boolean)
      .map((block) => JSON.parse(block.replace(/^data: /, "")) as { type: string; audio?: string });
    expect(events.at(-1)?.type).toBe("speech.audio.done");
    const joined = Buffer.concat(
      events.filter((e) => e.type === "speech.audio.delta").map((e) => Buffer.from(e.audio!, "base64")),
    );
    expect(new Uint8Array(joined)).toEqual(wavBytes);
  });
});

describe("bad input: a clear 4xx, and the server keeps serving", () => {
  it("text: empty, over the limit, wrong types", async () => {
    const api = t.client();
    const empty = await trpcClientError(api.tts.synthesize.mutate({ text: "   " }));
    expect(empty.data?.httpStatus).toBe(400);
    expect(empty.message).toMatch(/text must not be empty/);
    const long = await trpcClientError(api.tts.synthesize.mutate({ text: "a".repeat(301) }));
    expect(long.data?.httpStatus).toBe(400);
    expect(long.message).toBe("The text is 301 characters; the limit is 300.");
    const wrongType = await trpcClientError(
      api.tts.synthesize.mutate({ text: "hi", maxTokens: "many" } as never),
    );
    expect(wrongType.data?.httpStatus).toBe(400);
    expect(wrongType.message).toMatch(/maxTokens/);

    for (const [body, message] of [
      [{ model: "tts-1", input: "" }, /input: input must not be empty/],
      [{ model: "tts-1", input: "x".repeat(301) }, /limit is 300/],
      [
        { model: "tts-1", input: "hi", response_format: "ogg" },
        /response_format: must be one of mp3, opus, aac, flac, wav, pcm/,
      ],
      [{ model: "tts-1", input: "hi", speed: 8 }, /speed must be between 0.25 and 4/],
      [{ model: "tts-1", input: 42 }, /input: Invalid input: expected string/],
      ['{"model": "tts-1", "input": ', /not valid JSON/],
    ] as const) {
      const res = await speech(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        error: { code: "BAD_REQUEST", message: expect.stringMatching(message) },
      });
    }
    const notJson = await fetch(`${t.url}/v1/audio/speech`, { method: "POST", body: "input=hi" });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({
      error: { message: expect.stringMatching(/Content-Type: application\/json/) },
    });
  });

  it("malformed tRPC JSON and an oversize JSON body", async () => {
    const malformed = await fetch(`${t.url}/trpc/tts.synthesize`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{nope",
    });
    expect(malformed.status).toBe(400);
    const huge = await speech({ model: "tts-1", input: "x".repeat(70_000) });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({
      error: { code: "PAYLOAD_TOO_LARGE", message: expect.stringMatching(/larger than 64000 bytes/) },
    });
  });

  it("unknown ids and path-like ids", async () => {
    const api = t.client();
    expect((await trpcClientError(api.voices.get.query({ id: "voice_doesnotexist00" }))).message).toBe(
      "No voice with id voice_doesnotexist00.",
    );
    expect((await trpcClientError(api.tts.get.query({ id: "tts_doesnotexist0000" }))).data?.httpStatus).toBe(
      404,
    );
    const unknownVoice = await speech({ model: "tts-1", input: "hi", voice: "voice_doesnotexist00" });
    expect(unknownVoice.status).toBe(404);
    // tRPC refuses an unknown voice at once too, instead of queueing a job that fails later.
    const jobsBefore = (await api.tts.list.query()).length;
    const queuedWithUnknownVoice = await trpcClientError(
      api.tts.synthesize.mutate({ text: "hi", voiceId: "voice_doesnotexist00" }),
    );
    expect(queuedWithUnknownVoice.data?.httpStatus).toBe(404);
    expect(queuedWithUnknownVoice.message).toBe("No voice with id voice_doesnotexist00.");
    expect(await api.tts.list.query()).toHaveLength(jobsBefore);
    const traversal = await trpcClientError(api.voices.get.query({ id: "../../etc/passwd" }));
    expect(traversal.data?.httpStatus).toBe(400);
    expect(traversal.message).toMatch(/must be an id/);
    const encoded = await fetch(`${t.url}/v1/audio/..%2F..%2Fetc%2Fpasswd`);
    expect(encoded.status).toBe(400);
    expect(await encoded.json()).toMatchObject({
      error: { message: 'Invalid audio id "../../etc/passwd".' },
    });
    expect((await speech({ model: "tts-1", input: "hi", voice: "../../etc/passwd" })).status).toBe(400);
  });

  it("malformed request targets: 400, and the process keeps serving", async () => {
    // Read as a URL, `//x:99999` is a host with an invalid port: parsing it used to throw outside any handler.
    for (const target of ["//x:99999", "//x/healthz", "*"]) {
      const response = await rawRequest(target);
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({
        error: { code: "BAD_REQUEST", message: `Malformed request target ${JSON.stringify(target)}.` },
      });
    }
    const absoluteForm = await rawRequest(`${t.url}/healthz`);
    expect(absoluteForm.status).toBe(200);
    const badEscape = await rawRequest("/v1/audio/%zz%");
    expect(badEscape.status).toBe(400);
    expect(JSON.parse(badEscape.body)).toMatchObject({
      error: { code: "BAD_REQUEST", message: 'Malformed percent-encoding in "%zz%".' },
    });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it("uploads: not a WAV, truncated, oversize", async () => {
    const api = t.client();
    const notWav = await trpcClientError(
      api.voices.create.mutate(wavUpload(new TextEncoder().encode("definitely not audio"))),
    );
    expect(notWav.data?.httpStatus).toBe(400);
    expect(notWav.message).toMatch(/Not a WAV file.*\(NOT_WAV\)/);
    const truncated = await trpcClientError(
      api.voices.create.mutate(wavUpload(voiceWav().subarray(0, 50_000))),
    );
    expect(truncated.message).toMatch(/truncated.*\(TRUNCATED\)/);
    const oversize = await fetch(`${t.url}/trpc/voices.create`, {
      method: "POST",
      body: wavUpload(new Uint8Array(2_100_000)),
    });
    expect(oversize.status).toBe(413);
  });

  it("still serves after all of that", async () => {
    const res = await speech({ model: "tts-1", input: "Still here.", response_format: "wav", greedy: true });
    expect(res.status).toBe(200);
    expect(decodeWav(new Uint8Array(await res.arrayBuffer())).samples.length).toBeGreaterThan(0);
    expect((await t.client().health.query()).status).toBe("ok");
  });
});

describe("metrics", () => {
  function parsePrometheus(text: string): Map<string, number> {
    const samples = new Map<string, number>();
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
      const match =
        /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(
          line,
        );
      if (!match) throw new Error(`not Prometheus text: ${line}`);
      samples.set(match[1]!, Number(match[2]));
    }
    return samples;
  }

  it("parses as Prometheus text and its counters move", async () => {
    const before = parsePrometheus(await (await fetch(`${t.url}/metrics`)).text());
    await (await speech({ model: "tts-1", input: "Count me.", response_format: "wav" })).arrayBuffer();
    await fetch(`${t.url}/nowhere`);
    const after = parsePrometheus(await (await fetch(`${t.url}/metrics`)).text());
    const key = 'tts_http_requests_total{route="/v1/audio/speech",method="POST",status="200"}';
    expect(after.get(key)).toBe((before.get(key) ?? 0) + 1);
    expect(after.get('tts_jobs_total{outcome="done"}')).toBe(
      (before.get('tts_jobs_total{outcome="done"}') ?? 0) + 1,
    );
    expect(after.get('tts_http_errors_total{route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(after.get('tts_time_to_first_audio_seconds_count{via="speech"}')).toBe(
      (before.get('tts_time_to_first_audio_seconds_count{via="speech"}') ?? 0) + 1,
    );
    expect(after.get('tts_time_to_first_audio_seconds_count{via="job"}')).toBeGreaterThan(0);
    expect(after.get("tts_real_time_factor_count")).toBeGreaterThan(0);
    expect(after.get("tts_tokens_per_second_count")).toBeGreaterThan(0);
    expect(after.get("tts_queue_depth")).toBe(0);
    expect(after.get("tts_jobs_in_flight")).toBe(0);
    expect(after.get("tts_speech_encoder_runs")).toBeGreaterThanOrEqual(1);
  });
});
