import { configDefaults } from "vitest/config";

import { defineVitestConfig } from "@tts/vitest-config";

export default defineVitestConfig({
  // The reliability suite has its own config and command (`pnpm test:reliability`, vitest.reliability.config.ts).
  test: { exclude: [...configDefaults.exclude, "test/reliability/**"] },
});
