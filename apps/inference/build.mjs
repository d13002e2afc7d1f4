// Bundles the server into dist/: workspace packages (TypeScript source) are inlined, npm dependencies stay
// external so native modules such as onnxruntime-node load from node_modules.
import { readFileSync } from "node:fs";

import { build } from "esbuild";

const { dependencies } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const external = Object.keys(dependencies).filter((name) => !name.startsWith("@tts/"));

await build({
  // Worker threads start from their own files beside the entry that spawns them (src/workers/spawn-worker.ts).
  entryPoints: {
    cli: "src/cli.ts",
    "engine-worker": "src/engine/engine-worker.ts",
    "audio-encoder-worker": "src/workers/audio-encoder-worker.ts",
  },
  outdir: "dist",
  bundle: true,
  platform: "node",
  target: "node24",
  format: "esm",
  sourcemap: true,
  external,
  logLevel: "info",
});
