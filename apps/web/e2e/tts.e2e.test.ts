import { readFileSync } from "node:fs";

import { createTRPCClient, httpLink, TRPCClientError, type TRPCClient } from "@trpc/client";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { AppRouter } from "@tts/api";
import { decodeWav, encodeWav } from "@tts/audio";

import { accessibilityViolations } from "./accessibility";
import { screenshots } from "./screenshots";
import { startStack, type RunningProcess, type Stack } from "./stack";

/** Seven seconds of a pitched, syllable-like tone: enough for the reference-clip checks. */
function voiceLike(): Float32Array {
  const out = new Float32Array(7 * 24_000);
  for (let i = 0; i < out.length; i++) {
    const t = i / 24_000;
    out[i] = 0.2 * (0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t)) * Math.sin(2 * Math.PI * 160 * t);
  }
  return out;
}

/** Enough sentences that the tiny bundle takes a few seconds, chunk by chunk, streaming from the first. */
const LONG_TEXT = Array.from(
  { length: 60 },
  (_, i) => `This is sentence number ${i + 1}, long enough to stand on its own as a chunk of speech.`,
).join(" ");

/** Waits until the browser has really played some of `audio` (not merely loaded it). */
async function waitUntilPlaying(audio: Locator): Promise<void> {
  await expect
    .poll(
      () =>
        audio.evaluate((element: HTMLAudioElement) => element.played.length > 0 && element.currentTime > 0),
      { timeout: 20_000, message: "the page never played this audio" },
    )
    .toBe(true);
}

/** The result player for a job other than `previous` (a new result, not a stale element). */
async function newResult(
  page: Page,
  previous: string | undefined,
): Promise<{ audio: Locator; jobId: string }> {
  const audio = page.locator(
    previous
      ? `[data-testid="result-audio"]:not([data-job-id="${previous}"])`
      : '[data-testid="result-audio"]',
  );
  await audio.waitFor({ timeout: 30_000 });
  return { audio, jobId: (await audio.getAttribute("data-job-id")) ?? "" };
}

async function settled(node: TRPCClient<AppRouter>, id: string) {
  await expect
    .poll(async () => (await node.tts.get.query({ id })).status, { timeout: 90_000, interval: 100 })
    .toMatch(/^(done|failed|cancelled)$/);
  return node.tts.get.query({ id });
}

async function download(page: Page, trigger: Locator): Promise<Uint8Array> {
  const [file] = await Promise.all([page.waitForEvent("download"), trigger.click()]);
  const path = await file.path();
  return new Uint8Array(readFileSync(path));
}

let inference: RunningProcess & { url: string };
let web: RunningProcess & { url: string };
/** The inference node, asked directly: what the page shows must match what the node says. */
let node: TRPCClient<AppRouter>;
let browser: Browser;
let page: Page;
let stack: Stack;
/** The job whose audio the page showed last. */
let previousJobId: string | undefined;

beforeAll(async () => {
  stack = await startStack({
    inferenceEnv: { MAX_TEXT_LENGTH: "100000" },
    // Chromium's fake microphone (a beeping tone) and no permission prompt, for the recording test.
    chromiumArgs: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
  });
  ({ inference, web, browser } = stack);
  node = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${inference.url}/trpc` })] });
  page = await browser.newPage({ acceptDownloads: true });
});

afterAll(async () => {
  await stack?.stop();
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
    expect(await panel.textContent()).toContain(inference.url);
    // The badge: model, dtype, device and queue, from the same health call.
    expect(await page.getByTestId("status-badge").textContent()).toMatch(
      /Chatterbox turbo · fp32 · cpu · queue 0/,
    );
    // The character count is against the node's own limit.
    expect(await page.getByTestId("text-count").textContent()).toBe("0 / 100,000 characters");
  });

  it("keeps polling from the browser, across the CORS allowlist", async () => {
    const response = await page.waitForResponse((r) => r.url().startsWith(`${inference.url}/trpc/health`));
    expect(response.status()).toBe(200);
    expect(response.headers()["access-control-allow-origin"]).toBe(web.url);
  });

  it("starts playing before synthesis completes, shows progress, and the player's time advances", async () => {
    await page.getByLabel("Text", { exact: true }).fill(LONG_TEXT);
    const clickedAt = Date.now();
    await page.getByRole("button", { name: "Speak" }).click();
    const { audio, jobId } = await newResult(page, previousJobId);
    previousJobId = jobId;
    await waitUntilPlaying(audio);
    const firstPlaying = Number(await audio.getAttribute("data-first-playing-at"));
    const status = page.getByTestId("job-status");
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toMatch(/tokens|Done/);
    const before = await audio.evaluate((element: HTMLAudioElement) => element.currentTime);
    await page.waitForTimeout(700);
    const after = await audio.evaluate((element: HTMLAudioElement) => element.currentTime);
    expect(after).toBeGreaterThan(before);
    const job = await settled(node, jobId);
    expect(job).toMatchObject({ status: "done", text: LONG_TEXT, voiceId: null });
    // The first sound came while the node was still generating.
    expect(firstPlaying).toBeLessThan(job.finishedAt!);
    console.log(
      `first audio ${firstPlaying - clickedAt} ms after the click; the job finished ${job.finishedAt! - clickedAt} ms ` +
        `after it (${job.audio?.durationSeconds.toFixed(1)} s of audio)`,
    );
    await expect
      .poll(() => status.textContent(), { timeout: 20_000 })
      .toMatch(/^Done: \d+\.\d s of audio \(seed \d+\)/);
    const waveform = page.getByTestId("waveform").and(page.locator('[data-ready="true"]'));
    await waveform.waitFor();
    // Heard live, the element had no ranges to seek in: a click on the waveform's middle still gets there.
    const box = (await waveform.boundingBox())!;
    await waveform.click({ position: { x: box.width / 2, y: box.height / 2 } });
    const total = job.audio!.durationSeconds;
    await expect
      .poll(() => audio.evaluate((element: HTMLAudioElement) => element.currentTime), { timeout: 10_000 })
      .toBeGreaterThan(total * 0.45);
    expect(await audio.evaluate((element: HTMLAudioElement) => element.currentTime)).toBeLessThan(
      total * 0.6,
    );
    expect(await waveform.getAttribute("aria-valuetext")).toMatch(/^\d+\.\d s of 79\.5 s$/);
  });

  it("downloads the result as a valid WAV, and as MP3 converted on the fly", async () => {
    const job = await node.tts.get.query({ id: previousJobId! });
    const result = page.getByTestId("now-playing");
    const wav = decodeWav(await download(page, result.getByTestId("download-wav")));
    expect(wav.sampleRate).toBe(24_000);
    expect(wav.durationSeconds).toBeCloseTo(job.audio!.durationSeconds, 1);
    const mp3 = await download(page, result.getByTestId("download-mp3"));
    // An MPEG audio frame sync at the start, and a size that fits the duration at the node's bitrate.
    expect(mp3[0]).toBe(0xff);
    expect(mp3[1]! & 0xe0).toBe(0xe0);
    expect(mp3.length).toBeGreaterThan(4_000 * job.audio!.durationSeconds);
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
    const stored = await node.voices.get.query({ id: voiceId });
    expect(stored.name).toBe("my-voice");
    // The preview plays the voice as the node stored it (trimmed, 24 kHz), fetched by the browser.
    const preview = page.getByTestId("voice-preview");
    expect(await preview.getAttribute("src")).toBe(`${inference.url}/v1/voices/${voiceId}/audio`);
    await expect
      .poll(() => preview.evaluate((element: HTMLAudioElement) => element.duration), { timeout: 10_000 })
      .toBeCloseTo(stored.durationSeconds, 1);
    await page.getByLabel("Text", { exact: true }).fill("Spoken in my own voice.");
    await page.getByRole("button", { name: "Speak" }).click();
    const { audio, jobId } = await newResult(page, previousJobId);
    previousJobId = jobId;
    expect(await audio.getAttribute("data-voice-id")).toBe(voiceId);
    await waitUntilPlaying(audio);
    expect(await settled(node, jobId)).toMatchObject({ status: "done", voiceId });
  });

  it("records a voice with the microphone, converts it to WAV in the browser, and speaks with it", async () => {
    await page.getByTestId("record-start").click();
    await page.getByTestId("record-stop").waitFor();
    await page.waitForTimeout(6_500);
    await page.getByTestId("record-stop").click();
    await page.getByTestId("recording-preview").waitFor({ timeout: 15_000 });
    const select = page.getByLabel("Voice", { exact: true });
    const before = await select.inputValue();
    await page.getByTestId("recording-use").click();
    // Another stored voice, selected (never "", which would be the model's default).
    await expect
      .poll(
        async () => {
          const value = await select.inputValue();
          return value.startsWith("voice_") && value !== before;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const voice = await node.voices.get.query({ id: await select.inputValue() });
    expect(voice.name).toMatch(/^Recording /);
    expect(voice.durationSeconds).toBeGreaterThan(5);
    await page.getByRole("button", { name: "Speak" }).click();
    const { jobId } = await newResult(page, previousJobId);
    previousJobId = jobId;
    expect(await settled(node, jobId)).toMatchObject({ status: "done", voiceId: voice.id });
  });

  it("shows the server's own error for a text over the limit, and keeps the typed text", async () => {
    const huge = "word ".repeat(40_000);
    await page.getByLabel("Text", { exact: true }).fill(huge);
    expect(await page.getByTestId("text-count").textContent()).toBe(
      "200,000 / 100,000 characters (over the limit)",
    );
    await page.getByRole("button", { name: "Speak" }).click();
    const error = page.getByTestId("synthesize-error");
    await error.waitFor();
    expect(await error.textContent()).toBe("The text is 199999 characters; the limit is 100000.");
    expect((await page.getByLabel("Text", { exact: true }).inputValue()).length).toBe(200_000);
  });

  it("passes axe-core's WCAG A/AA checks in light and dark, settings open, and works from the keyboard", async () => {
    await page.locator("details.settings summary").click();
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      expect(await accessibilityViolations(page), colorScheme).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: null });
    await page.locator("details.settings summary").click();
    // Keyboard: from the text box, Tab reaches the first tag button, and Enter inserts the tag.
    const text = page.getByLabel("Text", { exact: true });
    await text.fill("Hi");
    await text.focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("[laugh]");
    await page.keyboard.press("Enter");
    expect(await text.inputValue()).toBe("Hi [laugh] ");
  });

  it("writes screenshots: desktop and phone width, light and dark", async () => {
    await page
      .getByLabel("Text", { exact: true })
      .fill("Hello there! [laugh] This is Chatterbox, running on your own node.");
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      for (const [name, viewport] of [
        ["desktop", { width: 1280, height: 900 }],
        ["phone", { width: 390, height: 844 }],
      ] as const) {
        await page.setViewportSize(viewport);
        await page.screenshot({ path: screenshots.path(`tts-${name}-${colorScheme}.png`), fullPage: true });
      }
    }
    await page.emulateMedia({ colorScheme: null });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("cancels a job while it plays: the node stops it and the page says so", async () => {
    await page.getByLabel("Text", { exact: true }).fill(LONG_TEXT);
    await page.getByRole("button", { name: "Speak" }).click();
    const { audio, jobId } = await newResult(page, previousJobId);
    await waitUntilPlaying(audio);
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect
      .poll(() => page.getByTestId("job-status").textContent(), { timeout: 10_000 })
      .toMatch(/^Cancelled\./);
    expect(await node.tts.get.query({ id: jobId })).toMatchObject({ status: "cancelled", audio: null });
    await audio.waitFor({ state: "detached" });
    const item = page.locator(`[data-testid="history-item"][data-job-id="${jobId}"]`);
    await expect.poll(() => item.textContent(), { timeout: 10_000 }).toContain("cancelled");
  });

  it("deletes a result: it leaves the history and the node no longer serves its audio", async () => {
    const id = previousJobId!;
    const item = page.locator(`[data-testid="history-item"][data-job-id="${id}"]`);
    await item.waitFor();
    await item.getByTestId("history-delete").click();
    await item.waitFor({ state: "detached" });
    expect((await fetch(`${inference.url}/v1/audio/${id}`)).status).toBe(404);
    const gone = await node.tts.get.query({ id }).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(TRPCClientError);
    expect((gone as TRPCClientError<AppRouter>).data?.code).toBe("NOT_FOUND");
    // The player of the deleted result goes with it.
    expect(await page.locator(`[data-testid="result-audio"][data-job-id="${id}"]`).count()).toBe(0);
  });

  it("says clearly when the inference node is unreachable", async () => {
    await inference.stop();
    await page.reload();
    const alert = page.getByTestId("inference-unreachable");
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toContain("Inference node unreachable");
    expect(await alert.textContent()).toContain(inference.url);
    expect(await page.getByTestId("status-badge").textContent()).toContain("Inference node unreachable");
  });
});
