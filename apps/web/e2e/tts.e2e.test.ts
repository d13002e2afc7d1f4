import { encodeWav } from "@tts/audio";
import { launchChromium } from "@tts/vitest-config/chromium";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

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

let inference: RunningProcess & { url: string };
let web: RunningProcess & { url: string };
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const webPort = await freePort();
  inference = await startInference({ CORS_ORIGINS: `http://127.0.0.1:${webPort}` });
  web = await startWeb(webPort, { NEXT_PUBLIC_TTS_API_BASE: inference.url });
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
    expect(await page.getByTestId("backend-cpu").textContent()).toContain("cpu available");
    expect(await page.getByTestId("backend-cuda").textContent()).toContain("cuda unavailable");
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
    expect(await audio.getAttribute("src")).toMatch(new RegExp(`^${inference.url}/v1/audio/tts_`));
    // The browser itself fetches and decodes the stored WAV.
    const duration = await audio.evaluate(
      (element: HTMLAudioElement) =>
        new Promise<number>((resolve, reject) => {
          if (element.readyState >= 1) return resolve(element.duration);
          element.addEventListener("loadedmetadata", () => resolve(element.duration), { once: true });
          element.addEventListener("error", () => reject(new Error("audio failed to load")), { once: true });
        }),
    );
    expect(duration).toBeGreaterThan(0.3);
  });

  it("uploads a voice from a file and offers it for the next synthesis", async () => {
    await page.getByTestId("voice-upload").setInputFiles({
      name: "my-voice.wav",
      mimeType: "audio/wav",
      buffer: Buffer.from(encodeWav(voiceLike(), 24_000)),
    });
    const select = page.getByLabel("Voice", { exact: true });
    await expect
      .poll(async () => await select.locator("option").allTextContents(), { timeout: 30_000 })
      .toEqual(["Model default", expect.stringMatching(/^my-voice \(\d+\.\d s\)$/)]);
    expect(await select.inputValue()).toMatch(/^voice_/);
    await page.getByRole("button", { name: "Speak" }).click();
    await expect
      .poll(async () => page.getByTestId("result-audio").getAttribute("src"), { timeout: 30_000 })
      .toMatch(/tts_/);
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
