import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where browser tests leave screenshots of the page: apps/web/test-results/screenshots (cleared by `npm test`). */
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test-results/screenshots");

export const screenshots = {
  dir,
  path(name: string): string {
    mkdirSync(dir, { recursive: true });
    return path.join(dir, name);
  },
};
