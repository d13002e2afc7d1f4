// @ts-check
// Shared vitest preset: every workspace's vitest.config.ts merges its overrides into this.
import { defineConfig, mergeConfig } from "vitest/config";

const base = defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Real servers, real child processes and real model graphs: give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // The JSON report feeds the one-line summary printed by `pnpm test` (tooling/scripts/quickstart.mjs).
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest.json" },
  },
});

/**
 * @param {import("vitest/config").ViteUserConfig} [overrides]
 */
export function defineVitestConfig(overrides = {}) {
  const merged = mergeConfig(base, overrides);
  // mergeConfig concatenates arrays; a workspace that names its own test files means only those.
  if (overrides.test?.include) merged.test.include = overrides.test.include;
  return merged;
}
