import { defineVitestConfig } from "@tts/vitest-config";

// The preset's include (`test/**/*.test.ts`) covers every suite here, the workflow checks included.
export default defineVitestConfig();
