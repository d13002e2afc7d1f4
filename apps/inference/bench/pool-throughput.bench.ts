// `pnpm exec tsx bench/pool-throughput.bench.ts <bundleDir> [--dtype q4|fp32] [--configs 1x2,2x1,1x2r2]
// [--tokens N]`: throughput of the engine's worker pool (src/engine/engine.ts, the node's own) per pool shape.
// For each WORKERSxTHREADS[rROWS] shape (ROWS: syntheses per worker sharing decode steps, TTS_BATCH_ROWS,
// default 1): one stream alone, then WORKERS x ROWS streams at once (as many as the pool runs at once), each a
// different text generating N tokens (a forced-length stand-in makes exactly N). Figures: tokens/s of one
// stream, aggregate tokens/s of all streams (all tokens over the wall time from the first start to the last end),
// their ratio, and the median LM step per stream. Without --configs: every split of the machine's cores into
// workers of a power-of-two thread count, and the TTS_WORKERS=auto shape. Greedy, the bundle's default voice,
// conditioning cached on every worker first. Prints a table and one JSON line.
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";

import { Engine } from "../src/engine/engine";
import { resolveSettings } from "../src/engine/resolve-settings";
import { AUTO_THREADS_PER_WORKER } from "../src/model-settings";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dtype: { type: "string", default: "q4" },
    configs: { type: "string" },
    tokens: { type: "string", default: "100" },
  },
});
const dir = positionals[0];
if (!dir)
  throw new Error("usage: pool-throughput.bench.ts <bundleDir> [--dtype q4|fp32] [--configs 1x2,2x1]");
const TOKENS = Number(values.tokens);
const cores = availableParallelism();

function defaultShapes(): [number, number][] {
  const shapes: [number, number][] = [];
  for (let threads = cores; threads >= 1; threads = Math.floor(threads / 2)) {
    shapes.push([Math.max(1, Math.floor(cores / threads)), threads]);
    if (threads === 1) break;
  }
  const autoWorkers = Math.max(1, Math.floor(cores / AUTO_THREADS_PER_WORKER));
  const auto: [number, number] = [autoWorkers, Math.max(1, Math.floor(cores / autoWorkers))];
  if (!shapes.some(([w, t]) => w === auto[0] && t === auto[1])) shapes.push(auto);
  return shapes;
}

const shapes: [number, number, number][] = values.configs
  ? values.configs.split(",").map((c) => {
      const match = /^(\d+)x(\d+)(?:r(\d+))?$/.exec(c.trim());
      if (!match) throw new Error(`bad config ${c} (WORKERSxTHREADS or WORKERSxTHREADSrROWS)`);
      return [Number(match[1]), Number(match[2]), Number(match[3] ?? 1)];
    })
  : defaultShapes().map(([w, t]): [number, number, number] => [w, t, 1]);

const TEXTS = [
  "The quick brown fox jumps over the lazy dog.",
  "Every morning the baker opens the shop before sunrise.",
  "The old lighthouse stood at the edge of the cliff.",
  "Ships passing in the night trusted that light.",
  "She kneads the dough and shapes the loaves.",
  "Volunteers still take turns climbing the stairs.",
  "The first customers wait outside, talking.",
  "Its keeper climbed the narrow stairs every evening.",
];

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

interface ShapeFigures {
  workers: number;
  threads: number;
  rows: number;
  singleTokensPerSecond: number;
  aggregateTokensPerSecond: number;
  speedup: number;
  singleStepMs: number;
  concurrentStepMs: number;
}

async function measure(workers: number, threads: number, rows: number): Promise<ShapeFigures> {
  const engine = await Engine.start({
    modelDir: dir!,
    dtype: values.dtype as "q4" | "fp32",
    device: "cpu",
    threads,
    workers,
    rowsPerWorker: rows,
  });
  try {
    const generation = resolveSettings(engine.info.variant, {
      greedy: true,
      seed: 3,
      maxTokens: TOKENS,
    }).generation;
    const synth = (i: number, maxTokens = TOKENS) =>
      engine.synthesize({ text: TEXTS[i % TEXTS.length]!, options: { ...generation, maxTokens } });
    // Warm-up: every worker busy at once, so each loads its kernels and caches the default voice.
    await Promise.all(Array.from({ length: workers }, (_, i) => synth(i, 8)));

    let started = performance.now();
    const one = await synth(0);
    const singleMs = performance.now() - started;

    started = performance.now();
    const all = await Promise.all(Array.from({ length: workers * rows }, (_, i) => synth(i)));
    const allMs = performance.now() - started;

    const tokens = all.reduce((n, r) => n + r.tokens.length, 0);
    const single = one.tokens.length / (singleMs / 1000);
    const aggregate = tokens / (allMs / 1000);
    return {
      workers,
      threads,
      rows,
      singleTokensPerSecond: Number(single.toFixed(1)),
      aggregateTokensPerSecond: Number(aggregate.toFixed(1)),
      speedup: Number((aggregate / single).toFixed(2)),
      singleStepMs: Number(median(one.timings.stepMs).toFixed(1)),
      concurrentStepMs: Number(median(all.flatMap((r) => r.timings.stepMs)).toFixed(1)),
    };
  } finally {
    await engine.close();
  }
}

console.log(`pool throughput: ${dir} (${values.dtype}), ${cores} CPUs, ${TOKENS} tokens per stream`);
const figuresByShape: ShapeFigures[] = [];
for (const [workers, threads, rows] of shapes) {
  const figures = await measure(workers, threads, rows);
  figuresByShape.push(figures);
  console.log(
    `${workers} worker(s) x ${threads} thread(s), ${rows} row(s) each: one stream ` +
      `${figures.singleTokensPerSecond} tokens/s (step ${figures.singleStepMs} ms); ${workers * rows} streams ` +
      `${figures.aggregateTokensPerSecond} tokens/s in all (step ${figures.concurrentStepMs} ms), ` +
      `${figures.speedup}x`,
  );
}
console.log(JSON.stringify({ cpus: cores, tokens: TOKENS, shapes: figuresByShape }));
