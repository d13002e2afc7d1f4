import { defineVitestConfig } from "@tts/vitest-config";

// `pnpm test:reliability`: the suite that proves clients cannot take the node down (docs/reliability.md).
// RELIABILITY_PROFILE=ci (default) asserts correctness only; =full (`pnpm bench`) adds timings and memory. The tests
// read (and validate) it through test/reliability/profile.ts; this file only picks the run's shape from it.
// eslint-disable-next-line no-restricted-properties -- a test runner's config, not the app's configuration
const full = process.env.RELIABILITY_PROFILE?.trim().toLowerCase() === "full";

export default defineVitestConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    globalSetup: ["test/reliability/global-setup.ts"],
    // Its own report beside the unit tests' one: `npm test`'s summary line adds up every report in test-results/.
    outputFile: { json: "test-results/vitest-reliability.json" },
    testTimeout: full ? 600_000 : 60_000,
    // Timings are only meaningful when nothing else competes for the cores: one file at a time in full. In CI two
    // at a time (vitest's default would be one on a 2-core machine): each file is mostly one busy thread.
    fileParallelism: !full,
    maxWorkers: full ? 1 : 2,
    // The memory test reads RSS after a forced collection.
    execArgv: ["--expose-gc"],
  },
});
