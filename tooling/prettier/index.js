import { fileURLToPath } from "node:url";

/** @type {import("prettier").Config & import("@ianvs/prettier-plugin-sort-imports").PluginConfig} */
export default {
  printWidth: 110,
  // Resolved here, where it is a dependency: Prettier would look for a bare name from the repository root.
  plugins: [fileURLToPath(import.meta.resolve("@ianvs/prettier-plugin-sort-imports"))],
  // Node built-ins, then packages, then this workspace's own packages, then relative files; sorted within each.
  importOrder: ["<BUILTIN_MODULES>", "", "<THIRD_PARTY_MODULES>", "", "^@tts/(.*)$", "", "^[.]"],
  importOrderTypeScriptVersion: "5.9.3",
};
