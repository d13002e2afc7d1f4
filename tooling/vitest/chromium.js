// @ts-check
// Debian's chromium driven by playwright-core: its own browser download cannot work on a machine without
// outside network, and these flags keep Chromium from reaching for the network at start-up.
import { existsSync } from "node:fs";

import { chromium } from "playwright-core";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * @param {string[]} [extraArgs] more flags, e.g. Chromium's fake microphone for recording tests
 * @returns {Promise<import("playwright-core").Browser>}
 */
export async function launchChromium(extraArgs = []) {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: run the tests through \`npm test\` (it installs Debian's chromium) ` +
        "or set CHROMIUM_PATH.",
    );
  }
  return chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs, ...extraArgs] });
}
