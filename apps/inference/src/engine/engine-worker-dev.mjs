// Entry of engine workers when the engine runs from TypeScript source (tests, `pnpm dev`): tsx compiles the
// worker on the fly. Production bundles start dist/engine-worker.js directly.
import { register } from "tsx/esm/api";

register();
await import("./engine-worker.ts");
