// A node that cannot get its model: the page must say why and what to do, not spin or say only "failed".
import { afterAll, beforeAll, expect, it } from "vitest";

import { freePort, startStack, type Stack } from "./stack";

let stack: Stack;

beforeAll(async () => {
  // The model hub is a port nobody listens on: every download attempt fails at once, as offline.
  stack = await startStack({
    inferenceEnv: { HF_ENDPOINT: `http://127.0.0.1:${await freePort()}` },
    inferenceOptions: { model: "download" },
  });
});

afterAll(async () => {
  await stack?.stop();
});

it("says why the model is not ready and what to do, and Speak answers with the same reason", async () => {
  const page = await stack.browser.newPage();
  await page.goto(`${stack.web.url}/tts`);
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
