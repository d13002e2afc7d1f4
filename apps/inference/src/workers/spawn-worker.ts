import { Worker, type WorkerOptions } from "node:worker_threads";

// Under vitest/tsx the app runs from TypeScript source; the production bundle ships each worker as its own file
// beside the entry (build.mjs), which is where this module's code then lives too.
const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** Starts a worker thread: `dist/{bundleName}.js` when built, `source` (TypeScript, through tsx) otherwise. */
export function spawnWorker(bundleName: string, source: URL, options: WorkerOptions): Worker {
  return FROM_SOURCE
    ? new Worker(new URL("./worker-dev.mjs", import.meta.url), { ...options, argv: [source.href] })
    : new Worker(new URL(`./${bundleName}.js`, import.meta.url), options);
}
