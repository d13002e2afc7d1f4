import { defineVitestConfig } from "@tts/vitest-config";

// Browser tests against the production build (`next build`, and the inference node's dist/).
export default defineVitestConfig({
  test: {
    include: ["e2e/**/*.e2e.test.ts"],
    outputFile: { json: "test-results/e2e.json" },
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
