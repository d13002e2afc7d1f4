// Entry of worker threads when the app runs from TypeScript source (tests, `pnpm dev`): tsx compiles the worker
// named by the last argument on the fly. Production bundles start dist/<worker>.js directly.
import { register } from "tsx/esm/api";

register();
await import(process.argv.at(-1));
