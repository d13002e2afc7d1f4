import { createTRPCClient, httpLink, type TRPCClient } from "@trpc/client";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { AppRouter } from "@tts/api";
import { encodeWav } from "@tts/audio";
import { launchChromium } from "@tts/vitest-config/chromium";

import { freePort, startInference, startWeb, type RunningProcess } from "./stack";

/** Seven seconds of a pitched, syllable-like tone: enough for the reference-clip checks. */
function voiceLike(): Float32Array {
  const out = new Float32Array(7 * 24_000);
  for (let i = 0; i < out.length; i++) {
    const t = i / 24_000;
    out[i] = 0.2 * (0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t)) * Math.sin(2 * Math.PI * 160 * t);
  }
  return out;
}

/**
 * Waits until the browser has really played some of `audio` (not merely loaded it), and returns its decoded
 * duration.
 */
async function playedDuration(audio: Locator): Promise<number> {
  await expect
    .poll(
      () =>
        audio.evaluate((element: HTMLAudioElement) => element.played.length > 0 && element.currentTime > 0),
      { timeout: 15_000, message: "the page never played this audio" },
    )
    .toBe(true);
  return audio.evaluate((element: HTMLAudioElement) => element.duration);
}

let inference: RunningProcess & { url: string };
let web: RunningProcess & { url: string };
/** The inference node, asked directly: what the page shows must match what the node says. */
let node: TRPCClient<AppRouter>;
let browser: Browser;
let page: Page;
/** The job whose audio the page showed last. */
let previousJobId: string;

beforeAll(async () => {
  const webPort = await freePort();
  inference = await startInference({ CORS_ORIGINS: `http://127.0.0.1:${webPort}` });
  web = await startWeb(webPort, { NEXT_PUBLIC_TTS_API_BASE: inference.url });
  node = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${inference.url}/trpc` })] });
  browser = await launchChromium();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  await inference?.stop();
});

describe("/tts against the production build", () => {
  it("redirects / to /tts and shows the inference node's health through the typed client", async () => {
    await page.goto(web.url);
    expect(new URL(page.url()).pathname).toBe("/tts");
    const panel = page.getByTestId("inference-health");
    await panel.waitFor();
    expect(await page.getByTestId("health-service").textContent()).toMatch(/^tts-inference \d+\.\d+\.\d+$/);
    expect(await page.getByTestId("health-model").textContent()).toBe(
      "Chatterbox turbo (fp32) on cpu: ready",
    );
    // Whatever this host's install offers (CPU-only or GPU), the page lists exactly what the node reports.
    const { backends } = (await node.health.query()).onnxRuntime;
    expect(backends.map((backend) => backend.name)).toContain("cpu");
    const listed = panel.locator('[data-testid^="backend-"]');
    expect(await listed.evaluateAll((items) => items.map((item) => item.dataset.testid))).toEqual(
      backends.map((backend) => `backend-${backend.name}`),
    );
    for (const backend of backends) {
      const item = page.getByTestId(`backend-${backend.name}`);
      expect((await item.textContent())?.trim()).toBe(
        `${backend.name} ${backend.available ? "available" : "unavailable"}`,
      );
      expect(await item.getAttribute("title")).toBe(backend.detail ?? null);
    }
    expect(await panel.textContent()).toContain(inference.url);
  });

  it("keeps polling from the browser, across the CORS allowlist", async () => {
    const response = await page.waitForResponse((r) => r.url().startsWith(`${inference.url}/trpc/health`));
    expect(response.status()).toBe(200);
    expect(response.headers()["access-control-allow-origin"]).toBe(web.url);
  });

  it("speaks typed text and plays the result in the page", async () => {
    await page.getByLabel("Text").fill("Hello from the browser.");
    await page.getByRole("button", { name: "Speak" }).click();
    const audio = page.getByTestId("result-audio");
    await audio.waitFor({ timeout: 30_000 });
    const jobId = (await audio.getAttribute("data-job-id")) ?? "";
    previousJobId = jobId;
    const job = await node.tts.get.query({ id: jobId });
    expect(job).toMatchObject({ status: "done", text: "Hello from the browser.", voiceId: null });
    expect(await audio.getAttribute("data-voice-id")).toBeNull();
    expect(await audio.getAttribute("src")).toBe(`${inference.url}${job.audio?.url}`);
    // The browser itself fetches, decodes and plays the stored WAV.
    const duration = await playedDuration(audio);
    expect(duration).toBeGreaterThan(0.3);
    expect(duration).toBeCloseTo(job.audio?.durationSeconds ?? 0, 1);
  });

  it("uploads a voice from a file and plays a new result spoken with it", async () => {
    await page.getByTestId("voice-upload").setInputFiles({
      name: "my-voice.wav",
      mimeType: "audio/wav",
      buffer: Buffer.from(encodeWav(voiceLike(), 24_000)),
    });
    const select = page.getByLabel("Voice", { exact: true });
    await expect
      .poll(async () => await select.locator("option").allTextContents(), { timeout: 30_000 })
      .toEqual(["Model default", expect.stringMatching(/^my-voice \(\d+\.\d s\)$/)]);
    const voiceId = await select.inputValue();
    expect((await node.voices.get.query({ id: voiceId })).name).toBe("my-voice");
    await page.getByRole("button", { name: "Speak" }).click();
    // Only a result from another job counts: the previous test's audio stays on the page until this job is queued.
    const audio = page.locator(`[data-testid="result-audio"]:not([data-job-id="${previousJobId}"])`);
    await audio.waitFor({ timeout: 30_000 });
    expect(await audio.getAttribute("data-voice-id")).toBe(voiceId);
    const job = await node.tts.get.query({ id: (await audio.getAttribute("data-job-id")) ?? "" });
    expect(job).toMatchObject({ status: "done", voiceId });
    expect(job.id).not.toBe(previousJobId);
    expect(await audio.getAttribute("src")).toBe(`${inference.url}${job.audio?.url}`);
    const duration = await playedDuration(audio);
    expect(duration).toBeGreaterThan(0);
    expect(duration).toBeCloseTo(job.audio?.durationSeconds ?? 0, 1);
  });

  it("plays a job started through tRPC while it is still being generated (GET /v1/audio/{id} follows it)", async () => {
    // Sixty sentences: the job runs chunk by chunk for a few seconds, streaming from its first chunk on.
    const text = Array.from(
      { length: 60 },
      (_, i) => `This is sentence number ${i + 1}, long enough to stand on its own as a chunk of speech.`,
    ).join(" ");
    const job = await node.tts.synthesize.mutate({ text, format: "wav" });
    const player = await browser.newPage();
    try {
      await player.setContent(
        `<audio id="live" autoplay muted src="${inference.url}/v1/audio/${job.id}"></audio>`,
      );
      const audio = player.locator("#live");
      let statusWhenPlaying = "";
      await expect
        .poll(
          async () => {
            const playing = await audio.evaluate((element: HTMLAudioElement) => element.currentTime > 0);
            if (playing && !statusWhenPlaying)
              statusWhenPlaying = (await node.tts.get.query({ id: job.id })).status;
            return playing;
          },
          { timeout: 20_000, message: "the browser never played the live stream" },
        )
        .toBe(true);
      expect(statusWhenPlaying).toBe("running");
      await expect
        .poll(async () => (await node.tts.get.query({ id: job.id })).status, { timeout: 60_000 })
        .toBe("done");
    } finally {
      await player.close();
    }
  });

  it("says clearly when the inference node is unreachable", async () => {
    await inference.stop();
    await page.reload();
    const alert = page.getByTestId("inference-unreachable");
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toContain("Inference node unreachable");
    expect(await alert.textContent()).toContain(inference.url);
  });
});
