// The settings follow the node's variant: an English node gets exaggeration and CFG weight, and no sound tags.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";

import { launchChromium } from "@tts/vitest-config/chromium";

import { freePort, startInference, startWeb, type RunningProcess } from "./stack";

let inference: RunningProcess & { url: string };
let web: RunningProcess & { url: string };
let browser: Browser;

beforeAll(async () => {
  const webPort = await freePort();
  inference = await startInference({ CORS_ORIGINS: `http://127.0.0.1:${webPort}` }, { variant: "english" });
  web = await startWeb(webPort, { NEXT_PUBLIC_TTS_API_BASE: inference.url });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  await inference?.stop();
});

it("offers exaggeration and CFG weight on an English node, sends them, and shows no Turbo tags", async () => {
  const page = await browser.newPage();
  await page.goto(`${web.url}/tts`);
  await expect
    .poll(() => page.getByTestId("status-badge").textContent(), { timeout: 15_000 })
    .toMatch(/Chatterbox english/);
  expect(await page.getByRole("group", { name: "Insert a sound tag" }).count()).toBe(0);
  await page.locator("details.settings summary").click();
  await page.getByLabel("Exaggeration").fill("1.2");
  await page.getByLabel("CFG weight").fill("0");
  await page.getByLabel("Seed").fill("42");
  await page.getByLabel("Text", { exact: true }).fill("Guidance off, more emotion.");
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.url().includes("/trpc/tts.synthesize")),
    page.getByRole("button", { name: "Speak" }).click(),
  ]);
  // A batched call: the body maps call indexes to inputs.
  const sent = (JSON.parse(request.postData() ?? "{}") as Record<string, unknown>)["0"];
  expect(sent).toMatchObject({ exaggeration: 1.2, cfgWeight: 0, seed: 42, temperature: 0.8, speed: 1 });
  await expect
    .poll(() => page.getByTestId("job-status").textContent(), { timeout: 30_000 })
    .toMatch(/^Done: .* \(seed 42\)/);
});
