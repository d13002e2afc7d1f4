// The settings follow the node's variant: an English node gets exaggeration and CFG weight, and no sound tags.
import { afterAll, beforeAll, expect, it } from "vitest";

import { startStack, type Stack } from "./stack";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ inferenceOptions: { variant: "english" } });
});

afterAll(async () => {
  await stack?.stop();
});

it("offers exaggeration and CFG weight on an English node, sends them, and shows no Turbo tags", async () => {
  const page = await stack.browser.newPage();
  await page.goto(`${stack.web.url}/tts`);
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

it("on an English export that cannot run guidance, hides the CFG weight and sends none, and still speaks", async () => {
  const unguided = await startStack({ inferenceOptions: { variant: "english", textPositions: false } });
  try {
    const page = await unguided.browser.newPage();
    await page.goto(`${unguided.web.url}/tts`);
    await expect
      .poll(() => page.getByTestId("status-badge").textContent(), { timeout: 15_000 })
      .toMatch(/Chatterbox english/);
    await page.locator("details.settings summary").click();
    await expect.poll(() => page.getByLabel("Exaggeration").count()).toBe(1);
    expect(await page.getByLabel("CFG weight").count()).toBe(0);
    await page.getByLabel("Text", { exact: true }).fill("No guidance here.");
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().includes("/trpc/tts.synthesize")),
      page.getByRole("button", { name: "Speak" }).click(),
    ]);
    const sent = (JSON.parse(request.postData() ?? "{}") as Record<string, unknown>)["0"];
    expect(sent).toHaveProperty("exaggeration");
    expect(sent).not.toHaveProperty("cfgWeight");
    await expect
      .poll(() => page.getByTestId("job-status").textContent(), { timeout: 30_000 })
      .toMatch(/^Done: /);
  } finally {
    await unguided.stop();
  }
});
