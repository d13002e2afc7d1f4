import { launchChromium } from "@tts/vitest-config/chromium";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { freePort, startInference, startWeb, type RunningProcess } from "./stack";

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

  it("says clearly when the inference node is unreachable", async () => {
    await inference.stop();
    await page.reload();
    const alert = page.getByTestId("inference-unreachable");
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toContain("Inference node unreachable");
    expect(await alert.textContent()).toContain(inference.url);
  });
});
