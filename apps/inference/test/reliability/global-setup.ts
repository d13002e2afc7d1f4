// Runs once around the whole reliability run (vitest.reliability.config.ts): starts the figures file afresh, and
// at the end gathers the tables every test file appended into one JSON document beside it, to copy into
// docs/reliability.md.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";

import { FIGURES_FILE, machine, PROFILE } from "./support";

export function setup() {
  rmSync(FIGURES_FILE, { force: true });
}

export function teardown() {
  if (!existsSync(FIGURES_FILE)) return;
  const tables = readFileSync(FIGURES_FILE, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown);
  const file = FIGURES_FILE.replace(/\.jsonl$/, ".json");
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), profile: PROFILE, machine: machine(), tables }, null, 2)}\n`,
  );
  console.log(`\nReliability figures (${PROFILE} profile): ${file}`);
}
