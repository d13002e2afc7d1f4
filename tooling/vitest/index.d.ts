import type { ViteUserConfig } from "vitest/config";

export function defineVitestConfig(overrides?: ViteUserConfig): ViteUserConfig;
