// `pnpm exec tsx bench/step-overhead.bench.ts [bundleDir]`: per decode step, ChatterboxModel.synthesize's loop
// vs a plain onnxruntime loop on the same language_model graph (feed present to past, nothing else), over the
// same context (prefill length, then the same number of steps), same threads. Without a bundle folder, a
// tiny-random Turbo bundle made larger (hidden 512, 8 heads, 8 layers, never stopping) is written to a temp dir.
// Knobs (env): BENCH_STEPS (default 200), BENCH_THREADS (default 1), BENCH_ROUNDS (default 3; best round kept),
// BENCH_MATMUL_ACCURACY (4 | graph), BENCH_SPINNING (0 | 1), BENCH_VOICE_PREFIX_CACHE (0 turns it off),
// BENCH_DTYPE (fp32 | q4), BENCH_MODEL_MODULE (path of another copy of model.ts to measure, e.g. the code before
// a change). Figures: wall ms per step (embed + LM, as timings.stepMs), wall ms per loop step (sampling and
// streaming decode included), and CPU ms per loop step (robust to other processes when BENCH_THREADS=1).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import * as ort from "onnxruntime-node";

import { presentFor } from "../src/engine/contract";
import { TURBO_DEFAULTS } from "../src/engine/logits";
import { ChatterboxModel as CurrentModel } from "../src/engine/model";
import { makeTinyBundle } from "../src/tiny/make-tiny";

const STEPS = Number(process.env.BENCH_STEPS ?? 200);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ACCURACY = process.env.BENCH_MATMUL_ACCURACY === "graph" ? "graph" : 4;
const SPINNING = process.env.BENCH_SPINNING === "1";

const DTYPE = (process.env.BENCH_DTYPE ?? "fp32") as "fp32" | "q4";
// A copy of the model module to compare against (e.g. the code before a change), else the current one.
const ChatterboxModel: typeof CurrentModel = process.env.BENCH_MODEL_MODULE
  ? ((await import(process.env.BENCH_MODEL_MODULE)) as { ChatterboxModel: typeof CurrentModel })
      .ChatterboxModel
  : CurrentModel;

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

async function main(): Promise<void> {
  const given = process.argv[2];
  const temp = given ? undefined : await mkdtemp(path.join(tmpdir(), "step-overhead-"));
  const dir =
    given ??
    (
      await makeTinyBundle(temp!, {
        variant: "turbo",
        stopAfter: null,
        hidden: 512,
        heads: 8,
        layers: 8,
      })
    ).dir;
  try {
    const model = await ChatterboxModel.load(dir, {
      dtype: DTYPE,
      device: "cpu",
      threads: THREADS,
      matmulAccuracyLevel: ACCURACY,
      spinning: SPINNING,
      voicePrefixCacheSize: process.env.BENCH_VOICE_PREFIX_CACHE === "0" ? 0 : undefined,
    });
    const text = "The quick brown fox jumps over the lazy dog.";
    const options = {
      sampling: TURBO_DEFAULTS,
      seed: 1,
      maxTokens: STEPS + 1,
      exaggeration: 0.5,
      cfgWeight: 0,
    };
    // Warm-up (also fills the voice cache, so the encoder stays out of the figures).
    await model.synthesize(text, undefined, { ...options, maxTokens: 8 });

    // The plain loop: the same graph file, the same session options, same prefill length and step count.
    const session = await ChatterboxModel.openLanguageModel(dir, {
      dtype: DTYPE,
      device: "cpu",
      threads: THREADS,
      matmulAccuracyLevel: ACCURACY,
      spinning: SPINNING,
    });
    const pastNames = session.inputNames.filter((name) => name.startsWith("past_key_values."));
    const { heads, headDim } = model.kv;
    const hidden = heads * headDim;
    const oursCpu: number[] = [];
    const plainCpu: number[] = [];
    const plainRound = async (prefillLength: number) => {
      let feeds: Record<string, ort.Tensor> = {};
      for (const name of pastNames)
        feeds[name] = new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, headDim]);
      const run = async (length: number, past: number) => {
        const total = past + length;
        // Varied values (a constant row would normalize to zeros and run on denormals, which is slow).
        const embeds = new Float32Array(length * hidden);
        for (let i = 0; i < embeds.length; i++) embeds[i] = Math.sin(i * 0.37 + past * 1.3);
        feeds.inputs_embeds = new ort.Tensor("float32", embeds, [1, length, hidden]);
        feeds.attention_mask = new ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]);
        feeds.position_ids = new ort.Tensor(
          "int64",
          BigInt64Array.from({ length }, (_, i) => BigInt(past + i)),
          [1, length],
        );
        const out = await session.run(feeds);
        const next: Record<string, ort.Tensor> = {};
        for (const name of pastNames) next[name] = out[presentFor(name)]!;
        feeds = next;
      };
      await run(prefillLength, 0);
      const started = performance.now();
      const cpu = process.cpuUsage();
      for (let step = 0; step < STEPS; step++) await run(1, prefillLength + step);
      const used = process.cpuUsage(cpu);
      plainCpu.push((used.user + used.system) / 1000 / STEPS);
      return (performance.now() - started) / STEPS;
    };

    // Rounds alternate (ours, plain) so drift in the machine's speed hits both alike.
    const ours: number[] = [];
    const oursWall: number[] = [];
    const plain: number[] = [];
    const prefill: number[] = [];
    let prefillLength = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      // CPU time from the first generated token to the last: every loop step (sampling, streaming decode, embed,
      // LM) but not the prefill; with one intra-op thread it is robust to other processes on the machine.
      let firstCpu: NodeJS.CpuUsage | undefined;
      let lastCpu: NodeJS.CpuUsage | undefined;
      let counted = 0;
      const result = await model.synthesize(text, undefined, options, {
        onToken: (generated) => {
          if (generated === 1) firstCpu = process.cpuUsage();
          else if (firstCpu) {
            lastCpu = process.cpuUsage(firstCpu);
            counted = generated - 1;
          }
        },
      });
      if (lastCpu) oursCpu.push((lastCpu.user + lastCpu.system) / 1000 / counted);
      const wall = performance.now() - started;
      ours.push(mean(result.timings.stepMs));
      prefill.push(result.timings.prefillMs);
      // Whole loop per step, sampling and streaming decode included, prefill and final flush excluded.
      oursWall.push((wall - result.timings.prefillMs - result.timings.encoderMs) / result.tokens.length);
      prefillLength = model.lastPrefillLength;
      plain.push(await plainRound(prefillLength));
    }
    await model.release();
    await session.release();

    const best = (values: number[]) => Math.min(...values);
    const o = best(ours);
    const w = best(oursWall);
    const p = best(plain);
    console.log(
      JSON.stringify({
        prefillLength,
        steps: STEPS,
        threads: THREADS,
        accuracy: ACCURACY,
        spinning: SPINNING,
      }),
    );
    console.log(`prefill         : ${prefill.map((ms) => ms.toFixed(1)).join(", ")} ms per round`);
    console.log(`plain loop      : ${p.toFixed(3)} ms/step`);
    console.log(`synthesize step : ${o.toFixed(3)} ms/step  (ratio ${(o / p).toFixed(3)})`);
    console.log(
      `synthesize loop : ${w.toFixed(3)} ms/step  (ratio ${(w / p).toFixed(3)}, sampling+decode incl.)`,
    );
    const pc = best(plainCpu);
    const oc = best(oursCpu);
    console.log(
      `CPU time        : plain ${pc.toFixed(3)} ms/step, synthesize loop ${oc.toFixed(3)} ms/step ` +
        `(ratio ${(oc / pc).toFixed(3)})`,
    );
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true });
  }
}

await main();
