import { defineVitestConfig } from "@tts/vitest-config";

export default defineVitestConfig();
