// The browser UI against a node that needs credentials: browser sessions get short-lived tokens from the web
// server, each session sees only its own work, audio plays through signed links, and no secret reaches the page.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { launchChromium } from "@tts/vitest-config/chromium";

import { freePort, startInference, startWeb, type RunningProcess } from "./stack";

const API_KEY = "e2e-operator-key-0123456789";
const SECRET = "e2e-session-secret-shared-by-web-and-node";
const PASSWORD = "let me in, please";

let inference: RunningProcess & { url: string };
let web: RunningProcess & { url: string };
let privateWeb: RunningProcess & { url: string };
let browser: Browser;

beforeAll(async () => {
  const [webPort, privatePort] = [await freePort(), await freePort()];
  inference = await startInference({
    API_KEYS: `ops:${API_KEY}`,
    TTS_SESSION_SECRET: SECRET,
    CORS_ORIGINS: `http://127.0.0.1:${webPort},http://127.0.0.1:${privatePort}`,
  });
  const env = { NEXT_PUBLIC_TTS_API_BASE: inference.url, TTS_SESSION_SECRET: SECRET };
  web = await startWeb(webPort, env);
  privateWeb = await startWeb(privatePort, { ...env, SITE_PASSWORD: PASSWORD });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  await privateWeb?.stop();
  await inference?.stop();
});

async function speak(page: Page, text: string): Promise<string> {
  await page.getByLabel("Text", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Speak" }).click();
  const audio = page.getByTestId("result-audio");
  await audio.waitFor({ timeout: 30_000 });
  await expect
    .poll(() => audio.evaluate((element: HTMLAudioElement) => element.currentTime > 0), { timeout: 20_000 })
    .toBe(true);
  await expect.poll(() => page.getByTestId("job-status").textContent(), { timeout: 30_000 }).toMatch(/^Done/);
  return (await audio.getAttribute("data-job-id")) ?? "";
}

const historyIds = (page: Page) =>
  page
    .getByTestId("history-item")
    .evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.jobId));

describe("with API keys and a session secret on the node", () => {
  let alice: BrowserContext;

  it("synthesizes and plays from the browser, through a signed link, and no key or secret is in the page", async () => {
    alice = await browser.newContext();
    const page = await alice.newPage();
    await page.goto(`${web.url}/tts`);
    const jobId = await speak(page, "Hello from a browser session.");
    const src = (await page.getByTestId("result-audio").getAttribute("src")) ?? "";
    expect(src).toMatch(
      new RegExp(`^${inference.url}/v1/audio/${jobId}\\?p=session-[\\w-]+&exp=\\d+&sig=[\\w-]+$`),
    );
    // The link is the credential: without it the node refuses, as it does for anyone without a key.
    expect((await fetch(`${inference.url}/v1/audio/${jobId}`)).status).toBe(401);
    expect((await fetch(src)).status).toBe(200);
    const response = await fetch(`${web.url}/tts`);
    // No other site may frame a page that holds a session.
    expect(response.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    const html = await response.text();
    for (const source of [html, await page.content()]) {
      expect(source).not.toContain(API_KEY);
      expect(source).not.toContain(SECRET);
    }
    // The session cookie is HTTP-only: scripts in the page cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain("tts_session");
    const [cookie] = await alice.cookies();
    expect(cookie).toMatchObject({ name: "tts_session", httpOnly: true, sameSite: "Lax" });
    expect(await historyIds(page)).toEqual([jobId]);
  });

  it("keeps each browser session's history to itself, and keeps it across a reload", async () => {
    const bob = await browser.newContext();
    const page = await bob.newPage();
    await page.goto(`${web.url}/tts`);
    await page.getByText("Nothing yet").waitFor();
    const bobsJob = await speak(page, "Bob speaking.");
    expect(await historyIds(page)).toEqual([bobsJob]);
    await bob.close();

    const again = await alice.newPage();
    await again.goto(`${web.url}/tts`);
    await again.getByTestId("history-item").first().waitFor();
    const ids = await historyIds(again);
    expect(ids).toHaveLength(1);
    expect(ids).not.toContain(bobsJob);
    await alice.close();
  });
});

describe("with a site password", () => {
  it("shows only the password form until it is given, then the studio", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${privateWeb.url}/tts`);
    await page.getByRole("heading", { name: "This site is private" }).waitFor();
    expect(await page.getByLabel("Text", { exact: true }).count()).toBe(0);
    // Tokens are refused to a locked session, whatever the page does.
    const refused = await page.evaluate(
      async () => (await fetch("/api/session/token", { method: "POST" })).status,
    );
    expect(refused).toBe(401);
    await page.getByLabel("Password").fill("a wrong guess");
    await page.getByRole("button", { name: "Unlock" }).click();
    await page.getByText("Wrong password.").waitFor();
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Unlock" }).click();
    await page.getByLabel("Text", { exact: true }).waitFor();
    await speak(page, "Unlocked.");
    expect(await page.content()).not.toContain(PASSWORD);
    await context.close();
  });
});
