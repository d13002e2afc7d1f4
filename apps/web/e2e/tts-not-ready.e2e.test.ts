// A node that cannot get its model: the page must say why and what to do, not spin or say only "failed".
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";

import { launchChromium } from "@tts/vitest-config/chromium";

import { freePort, startInference, startWeb, type RunningProcess } from "./stack";

let inference: RunningProcess & { url: string };
let web: RunningProcess & { url: string };
let browser: Browser;

beforeAll(async () => {
  const [webPort, closedPort] = [await freePort(), await freePort()];
  // The model hub is a port nobody listens on: every download attempt fails at once, as offline.
  inference = await startInference(
    { CORS_ORIGINS: `http://127.0.0.1:${webPort}`, HF_ENDPOINT: `http://127.0.0.1:${closedPort}` },
    { model: "download" },
  );
  web = await startWeb(webPort, { NEXT_PUBLIC_TTS_API_BASE: inference.url });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  await inference?.stop();
});

it("says why the model is not ready and what to do, and Speak answers with the same reason", async () => {
  const page = await browser.newPage();
  await page.goto(`${web.url}/tts`);
  const reason = page.getByTestId("not-ready");
  await expect
    .poll(() => reason.textContent(), { timeout: 30_000 })
    .toBe(
      "Not ready: The model hub could not be reached; check network access or set TTS_MODEL_DIR to a downloaded " +
        "bundle. Retrying.",
    );
  expect(await page.getByTestId("health-not-ready").textContent()).toMatch(
    /^The model hub could not be reached/,
  );
  await page.getByLabel("Text", { exact: true }).fill("Hello?");
  await page.getByRole("button", { name: "Speak" }).click();
  await expect
    .poll(() => page.getByTestId("synthesize-error").textContent(), { timeout: 10_000 })
    .toBe(
      "The model is not ready: The model hub could not be reached; check network access or set TTS_MODEL_DIR to a " +
        "downloaded bundle. Retrying.",
    );
});
