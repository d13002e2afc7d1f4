import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { decodeWav, encodeWav } from "@tts/audio";

import { syntheticVoice } from "../src/engine/synthetic-voice";
import { createLogger } from "../src/logger";
import { startTestNode } from "./support/node";
import { tinyBundle } from "./support/tiny";

const KEY = "test-key-0123456789abcdef";
const LONG = { text: "This job runs until it is stopped.", maxTokens: 4000 };

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

describe("scheduling", () => {
  it("answers 429 with Retry-After when the queue is full, and recovers", async () => {
    const t = await startTestNode({ queueSize: 1 }, { variant: "turbo", stopAfter: null });
    try {
      const api = t.client();
      const running = await api.tts.synthesize.mutate(LONG);
      await expect.poll(async () => (await api.tts.get.query({ id: running.id })).status).toBe("running");
      const queued = await api.tts.synthesize.mutate(LONG);
      expect(queued.status).toBe("queued");
      const rejected = await fetch(`${t.url}/trpc/tts.synthesize`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: "one too many" }),
      });
      expect(rejected.status).toBe(429);
      expect(Number(rejected.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await rejected.text()).toMatch(/The queue is full \(1 waiting\)/);
      const openai = await fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: "also too many" }),
      });
      expect(openai.status).toBe(429);
      expect(openai.headers.get("retry-after")).not.toBeNull();

      await api.tts.delete.mutate({ id: queued.id });
      await api.tts.delete.mutate({ id: running.id });
      expect(await api.tts.get.query({ id: running.id }).catch((e: Error) => e.message)).toMatch(/No job/);
      const after = await api.tts.synthesize.mutate({ text: "Room again.", maxTokens: 3 });
      expect(["queued", "running"]).toContain(after.status);
    } finally {
      await t.stop();
    }
  });

  it("stops generating when the client disconnects (visible in metrics)", async () => {
    const t = await startTestNode({}, { variant: "turbo", stopAfter: null });
    try {
      const cancelledBefore = await metric(t.url, 'tts_jobs_total{outcome="cancelled"}');
      const controller = new AbortController();
      const request = fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: LONG.text, maxTokens: 4000 }),
        signal: controller.signal,
      }).catch(() => "aborted");
      await expect.poll(() => metric(t.url, "tts_jobs_in_flight")).toBe(1);
      controller.abort();
      expect(await request).toBe("aborted");
      await expect.poll(() => metric(t.url, 'tts_jobs_total{outcome="cancelled"}')).toBe(cancelledBefore + 1);
      expect(await metric(t.url, "tts_jobs_in_flight")).toBe(0);
      // The worker is free again at once: a short job runs without waiting for the abandoned one.
      const next = await fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: "Next.", maxTokens: 3, response_format: "wav" }),
      });
      expect(next.status).toBe(200);
    } finally {
      await t.stop();
    }
  });

  it("fails a job that runs past its timeout with a clear reason, logged under the request's id", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("info", {
      write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    const t = await startTestNode({ jobTimeoutSeconds: 1 }, { variant: "turbo", stopAfter: null }, logger);
    try {
      // Audio streams from the first tokens on, so the timeout arrives mid-stream: as SSE's last event.
      const res = await fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: LONG.text, maxTokens: 4000, stream_format: "sse" }),
      });
      expect(res.status).toBe(200);
      const requestId = res.headers.get("x-request-id");
      const events = (await res.text())
        .split("\n\n")
        .filter(Boolean)
        .map((event) => JSON.parse(event.replace(/^data: /, "")) as { type: string });
      expect(events[0]?.type).toBe("speech.audio.delta");
      expect(events.at(-1)).toEqual({
        type: "error",
        error: { code: "TIMEOUT", message: "The synthesis took longer than 1 s." },
      });
      await expect
        .poll(() => lines.filter((line) => line.requestId === requestId).map((line) => line.msg))
        .toEqual(["synthesis did not complete", "request"]);
      expect(lines.find((line) => line.msg === "synthesis did not complete")).toMatchObject({
        code: "TIMEOUT",
      });
      const job = await t.client().tts.get.query({ id: res.headers.get("x-audio-id")! });
      expect(job).toMatchObject({ status: "failed", error: { code: "TIMEOUT" } });
    } finally {
      await t.stop();
    }
  });
});

describe("API keys", () => {
  it("guard /v1/*, /metrics and every voice and job procedure, not health; keys compare exactly", async () => {
    const t = await startTestNode({ apiKeys: [KEY] });
    try {
      const noKey = await fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: "hi" }),
      });
      expect(noKey.status).toBe(401);
      expect(noKey.headers.get("www-authenticate")).toBe("Bearer");
      expect(await noKey.json()).toMatchObject({
        error: { code: "UNAUTHORIZED", message: expect.stringMatching(/Bearer/) },
      });
      const wrong = await fetch(`${t.url}/v1/audio/tts_0000000000`, {
        headers: { Authorization: `Bearer ${KEY}x` },
      });
      expect(wrong.status).toBe(401);
      await expect(t.client().tts.synthesize.mutate({ text: "hi" })).rejects.toThrow(/API key is required/);
      await expect(t.client(`${KEY.slice(0, -1)}`).tts.synthesize.mutate({ text: "hi" })).rejects.toThrow(
        /API key/,
      );
      await expect(t.client().voices.list.query()).rejects.toThrow(/API key is required/);
      await expect(t.client().tts.list.query()).rejects.toThrow(/API key is required/);
      expect(await t.client(KEY).voices.list.query()).toEqual([]);
      expect((await t.client().health.query()).status).toBe("ok");
      expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).status).toBe(
        200,
      );
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
      const job = await t.client(KEY).tts.synthesize.mutate({ text: "With a key.", maxTokens: 3 });
      expect(["queued", "running"]).toContain(job.status);
    } finally {
      await t.stop();
    }
  });
});

describe("storage lifetime", () => {
  it("a restart keeps every stored voice and result, listed and playable", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "tts-restart-"));
    const first = await startTestNode({ dataDir });
    const form = new FormData();
    form.set("file", new File([encodeWav(syntheticVoice(5, 7), 24_000)], "v.wav"));
    form.set("name", "Kept");
    const voice = await first.client().voices.create.mutate(form);
    const speech = await fetch(`${first.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tts-1", input: "Keep me.", voice: voice.id, response_format: "wav" }),
    });
    const id = speech.headers.get("x-audio-id")!;
    const bytes = new Uint8Array(await speech.arrayBuffer());
    await first.stop();

    const second = await startTestNode({ dataDir });
    try {
      const api = second.client();
      expect(await api.voices.list.query()).toEqual([
        expect.objectContaining({ id: voice.id, name: "Kept" }),
      ]);
      expect(await api.tts.get.query({ id })).toMatchObject({
        status: "done",
        voiceId: voice.id,
        text: "Keep me.",
      });
      const replay = await fetch(`${second.url}/v1/audio/${id}`);
      expect(decodeWav(new Uint8Array(await replay.arrayBuffer())).samples).toEqual(decodeWav(bytes).samples);
      // The stored voice still conditions new speech after the restart.
      const again = await api.tts.synthesize.mutate({ text: "Still me.", voiceId: voice.id, maxTokens: 4 });
      await expect.poll(async () => (await api.tts.get.query({ id: again.id })).status).toBe("done");
    } finally {
      await second.stop();
    }
  });

  it("expires stored audio after the TTL (the earlier service's one-hour cleanup, configurable)", async () => {
    const t = await startTestNode({ audioTtlSeconds: 1 });
    try {
      const res = await fetch(`${t.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: "Short-lived.", response_format: "wav" }),
      });
      const id = res.headers.get("x-audio-id")!;
      // The response streams while the job runs: read it to the end, so the stored file exists.
      await res.arrayBuffer();
      const stored = await fetch(`${t.url}/v1/audio/${id}`);
      expect(stored.status).toBe(200);
      await stored.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const expired = await fetch(`${t.url}/v1/audio/${id}`);
      expect(expired.status).toBe(404);
      await expired.arrayBuffer();
    } finally {
      await t.stop();
    }
  });
});

describe("SIGTERM", () => {
  it("finishes the running job, then exits 0", async () => {
    const bundle = await tinyBundle({ variant: "turbo", stopAfter: null });
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli.ts",
        "serve",
        "--model-dir",
        bundle.dir,
        "--dtype",
        "fp32",
        "--device",
        "cpu",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
      ],
      {
        cwd: path.resolve(import.meta.dirname, ".."),
        env: {
          ...process.env,
          DATA_DIR: mkdtempSync(path.join(tmpdir(), "tts-sigterm-")),
          LOG_LEVEL: "info",
          TTS_WORKERS: "1",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await expect.poll(() => /"model ready"/.test(output), { timeout: 60_000 }).toBe(true);
    const port = /"port":(\d+)/.exec(output)?.[1];
    const url = `http://127.0.0.1:${port}`;
    const response = fetch(`${url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "tts-1",
        input: "Finish me.",
        maxTokens: 400,
        response_format: "wav",
        greedy: true,
      }),
    });
    await expect.poll(() => metric(url, "tts_jobs_in_flight")).toBe(1);
    child.kill("SIGTERM");
    const res = await response;
    expect(res.status).toBe(200);
    const audio = decodeWav(new Uint8Array(await res.arrayBuffer()));
    expect(audio.samples.length).toBeGreaterThan(960 * 300);
    expect(await exited).toBe(0);
    expect(output).toMatch(/"shutting down: draining jobs"/);
    expect(output).toMatch(/"stopped"/);
  });
});
