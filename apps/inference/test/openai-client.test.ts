import { spawnSync } from "node:child_process";

import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AUDIO_FORMATS, type AudioFormat } from "@tts/api";
import { encodeWav } from "@tts/audio";

import { syntheticVoice } from "../src/engine/synthetic-voice";
import { startTestNode, type TestNode } from "./support/node";

const TOKENS = 12;
let turbo: TestNode;
let english: TestNode;

beforeAll(async () => {
  [turbo, english] = await Promise.all([
    startTestNode({ voiceAliases: new Map([["narrator", "voice_aliasedvoice01"]]) }),
    startTestNode({}, { variant: "english", stopAfter: TOKENS }),
  ]);
});

afterAll(async () => {
  await Promise.all([turbo?.stop(), english?.stop()]);
});

/** The official client, pointed at a node the way Open WebUI or Home Assistant point theirs. */
const openai = (node: TestNode, apiKey = "not-needed") =>
  new OpenAI({ baseURL: `${node.url}/v1`, apiKey, maxRetries: 0 });

/** What ffprobe reads from a response: its sample rate and duration (raw PCM is described to it). */
function probe(bytes: Uint8Array, format: AudioFormat): { sampleRate: number; seconds: number } {
  const input = format === "pcm" ? ["-f", "s16le", "-ar", "24000", "-ac", "1"] : [];
  // Decoding every packet (not reading a header) gives the real duration of a stream of unknown length.
  const result = spawnSync(
    "ffprobe",
    [
      "-v",
      "error",
      ...input,
      "-i",
      "pipe:0",
      "-count_packets",
      "-show_streams",
      "-show_packets",
      "-of",
      "json",
    ],
    { input: bytes, maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0) throw new Error(`ffprobe failed: ${result.stderr.toString()}`);
  const parsed = JSON.parse(result.stdout.toString()) as {
    streams: { sample_rate: string; time_base: string }[];
    packets: { pts_time?: string; duration_time?: string }[];
  };
  const stream = parsed.streams[0]!;
  const end = Math.max(
    ...parsed.packets.map((packet) => Number(packet.pts_time ?? 0) + Number(packet.duration_time ?? 0)),
  );
  return { sampleRate: Number(stream.sample_rate), seconds: end };
}

/** Turbo: the generated tokens plus three silence tokens, 40 ms each. */
const EXPECTED_SECONDS = (TOKENS + 3) * 0.04;

describe("the official openai client against /v1/audio/speech", () => {
  it.each(AUDIO_FORMATS)("%s: whole and streamed, decodable to the expected duration", async (format) => {
    const client = openai(turbo);
    const params = {
      model: "tts-1",
      voice: "alloy",
      input: "Hello from the client.",
      response_format: format,
    };
    const whole = new Uint8Array(
      await (await client.audio.speech.create({ ...params, seed: 3 } as never)).arrayBuffer(),
    );
    const streamed = await client.audio.speech.create({ ...params, seed: 3 } as never);
    const chunks: Uint8Array[] = [];
    for await (const chunk of streamed.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    const joined = new Uint8Array(Buffer.concat(chunks));
    for (const bytes of [whole, joined]) {
      const { sampleRate, seconds } = probe(bytes, format);
      // Opus always decodes at 48 kHz.
      expect(sampleRate).toBe(String(format) === "opus" ? 48_000 : 24_000);
      // ADTS cannot signal AAC's 1024-sample encoder delay, so decoders play it as audio.
      const delay = String(format) === "aac" ? 1024 / 24_000 : 0;
      expect(Math.abs(seconds - delay - EXPECTED_SECONDS)).toBeLessThan(0.06);
    }
  });

  it("SSE (asked for by stream_format, whatever Accept says): deltas, then done with usage", async () => {
    const response = await openai(turbo).audio.speech.create({
      model: "tts-1",
      voice: "alloy",
      input: "Over server-sent events.",
      response_format: "pcm",
      stream_format: "sse",
    });
    // The client asked with `Accept: application/octet-stream`; stream_format alone decides.
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const events = (await response.text())
      .split("\n\n")
      .filter(Boolean)
      .map((event) => JSON.parse(event.replace(/^data: /, "")) as Record<string, unknown>);
    expect(events.filter((event) => event.type === "speech.audio.delta").length).toBeGreaterThan(0);
    expect(events.at(-1)).toEqual({
      type: "speech.audio.done",
      usage: { input_tokens: 24, output_tokens: TOKENS, total_tokens: 24 + TOKENS },
    });
  });

  it('takes voice as { "id": ... }: a stored voice, an operator alias or a built-in name', async () => {
    const client = openai(turbo);
    const form = new FormData();
    form.set("file", new File([encodeWav(syntheticVoice(5, 7), 24_000)], "mine.wav"));
    const mine = await turbo.client().voices.create.mutate(form);
    const { response } = await client.audio.speech
      .create({ model: "tts-1", voice: { id: mine.id }, input: "Mine.", response_format: "wav" })
      .withResponse();
    const job = await turbo.client().tts.get.query({ id: response.headers.get("x-audio-id")! });
    expect(job.voiceId).toBe(mine.id);
    // The alias points at a voice that does not exist: the error names the voice it resolved to.
    await expect(
      client.audio.speech.create({ model: "tts-1", voice: { id: "Narrator" }, input: "Who?" }),
    ).rejects.toMatchObject({ status: 404, message: expect.stringContaining("voice_aliasedvoice01") });
    const builtIn = await client.audio.speech
      .create({ model: "gpt-4o-mini-tts", voice: { id: "cedar" }, input: "Default.", response_format: "wav" })
      .withResponse();
    const defaultJob = await turbo
      .client()
      .tts.get.query({ id: builtIn.response.headers.get("x-audio-id")! });
    expect(defaultJob.voiceId).toBeNull();
  });

  it("accepts every OpenAI model name and the variant's own, and says which variant it serves otherwise", async () => {
    const client = openai(turbo);
    for (const model of ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "chatterbox-turbo"]) {
      const res = await client.audio.speech.create({
        model,
        voice: "nova",
        input: "Hi.",
        response_format: "pcm",
      });
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    await expect(
      client.audio.speech.create({ model: "chatterbox-english", voice: "nova", input: "Hi." }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining("serves Chatterbox turbo") });
  });

  it("instructions set English's delivery (the tokens change) and are ignored by Turbo", async () => {
    const speak = async (node: TestNode, instructions?: string) => {
      const { data, response } = await openai(node)
        .audio.speech.create({
          model: "tts-1",
          voice: "alloy",
          input: "How should this sound?",
          response_format: "pcm",
          instructions,
          seed: 11,
        } as never)
        .withResponse();
      return {
        applied: response.headers.get("x-instructions-applied"),
        audio: new Uint8Array(await data.arrayBuffer()),
      };
    };
    const calm = await speak(english, "Speak in a calm voice.");
    const dramatic = await speak(english, "Make it dramatic!");
    expect(calm.applied).toBe("calm (exaggeration 0.3, cfg_weight 0.5)");
    expect(dramatic.applied).toBe("dramatic (exaggeration 1, cfg_weight 0.3)");
    expect(dramatic.audio).not.toEqual(calm.audio);
    // A request's own value wins over the preset: same settings, same speech.
    const explicit = await openai(english)
      .audio.speech.create({
        model: "tts-1",
        voice: "alloy",
        input: "How should this sound?",
        response_format: "pcm",
        instructions: "dramatic",
        seed: 11,
        exaggeration: 0.3,
        cfg_weight: 0.5,
      } as never)
      .withResponse();
    expect(explicit.response.headers.get("x-instructions-applied")).toBe(
      "dramatic (exaggeration 0.3, cfg_weight 0.5)",
    );
    expect(new Uint8Array(await explicit.data.arrayBuffer())).toEqual(calm.audio);

    const plain = await speak(turbo);
    const instructed = await speak(turbo, "Make it dramatic!");
    expect(instructed.applied).toMatch(/^ignored/);
    expect(instructed.audio).toEqual(plain.audio);
  });
});

describe("the lists OpenAI clients call", () => {
  it("GET /v1/models, /v1/audio/models and /v1/audio/voices, read as Open WebUI and Home Assistant read them", async () => {
    const models = await openai(turbo).models.list();
    expect(models.data.map((model) => model.id)).toEqual([
      "chatterbox-turbo",
      "tts-1",
      "tts-1-hd",
      "gpt-4o-mini-tts",
    ]);
    const audioModels = (await (await fetch(`${turbo.url}/v1/audio/models`)).json()) as {
      models: { id: string }[];
    };
    expect(audioModels.models.map(({ id }) => id)).toContain("tts-1");
    const { voices } = (await (await fetch(`${turbo.url}/v1/audio/voices`)).json()) as {
      voices: { id: string; name: string }[];
    };
    const named = voices.map(({ id, name }) => `${id}:${name}`);
    expect(named).toContain("alloy:alloy");
    expect(named).toContain("cedar:cedar");
    expect(named).toContain("narrator:narrator");
  });

  it("with API keys: the model lists stay open; the voice library is listed only with a key", async () => {
    const key = "k".repeat(32);
    const guarded = await startTestNode({ apiKeys: [key] });
    try {
      const form = new FormData();
      form.set("file", new File([encodeWav(syntheticVoice(9, 7), 24_000)], "Private.wav"));
      const own = await guarded.client(key).voices.create.mutate(form);
      expect((await fetch(`${guarded.url}/v1/models`)).status).toBe(200);
      expect((await fetch(`${guarded.url}/v1/audio/models`)).status).toBe(200);
      const list = async (headers: Record<string, string> = {}) =>
        (
          (await (await fetch(`${guarded.url}/v1/audio/voices`, { headers })).json()) as {
            voices: { id: string }[];
          }
        ).voices;
      expect((await list()).map(({ id }) => id)).not.toContain(own.id);
      expect((await list({ Authorization: `Bearer ${key}` })).map(({ id }) => id)).toContain(own.id);
      expect((await fetch(`${guarded.url}/v1/audio/speech`, { method: "POST" })).status).toBe(401);
    } finally {
      await guarded.stop();
    }
  });
});
