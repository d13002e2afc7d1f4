// e2e bench worker, our engine: loads the bundle with ChatterboxModel (src/engine/model.ts) and runs every case
// as the node does: the text split into chunks by splitText (the node's defaults), one `synthesize` per chunk with
// the job's seed rule. Each case runs twice: streamed (`onAudio`, later chunks marked followsAudio, as a job) and
// for a file (no listener, as `tts synth`). Times each ORT call and writes a WorkerReport. Runs in its own process
// so that its peak RSS is its own. Also writes the voice clip and the input ids the peer then uses.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import type { InferenceSession } from "onnxruntime-node";

import { stageFiles } from "../../src/engine/bundle";
import { ENGLISH_DEFAULTS, TURBO_DEFAULTS } from "../../src/engine/logits";
import { ChatterboxModel, type GenerationOptions, type VoiceInput } from "../../src/engine/model";
import { syntheticVoice } from "../../src/engine/synthetic-voice";
import { splitText } from "../../src/engine/text-split";
import {
  instrumentSessions,
  STAGE_NAMES,
  summarize,
  type BenchEngine,
  type CaseResult,
  type RunCall,
  type StageName,
  type WorkerJob,
  type WorkerReport,
} from "./measure";

const SEED = 1234;
const EXAGGERATION = 0.5;
const REPETITION_PENALTY = 1.2;

const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as WorkerJob;

const loadStarted = performance.now();
const model = await ChatterboxModel.load(job.bundle, {
  dtype: job.dtype,
  device: "cpu",
  threads: job.threads,
});
const loadMs = performance.now() - loadStarted;
const loadRssMb = process.memoryUsage().rss / 1024 / 1024;

// `sessions` is private to the class; the bench reaches in only to time each ORT call.
const sessions = (model as unknown as { sessions: Record<StageName, InferenceSession> }).sessions;
const calls: RunCall[] = [];
instrumentSessions(
  sessions,
  (key) => ((STAGE_NAMES as readonly string[]).includes(key) ? (key as StageName) : undefined),
  calls,
);

let voice: Float32Array;
let voiceSource: string;
try {
  voice = (await model.defaultVoice()).samples;
  voiceSource = "bundle default_voice.wav (prepared like an upload)";
} catch {
  voice = syntheticVoice(0, 6);
  voiceSource = "synthetic 6 s clip (the bundle has no default_voice.wav)";
}
writeFileSync(job.voiceFile, new Uint8Array(voice.buffer, voice.byteOffset, voice.byteLength));

const sampling = { ...(model.variant === "turbo" ? TURBO_DEFAULTS : ENGLISH_DEFAULTS) };
const options = (maxTokens: number): GenerationOptions => ({
  sampling: { ...sampling, greedy: true, repetitionPenalty: REPETITION_PENALTY },
  seed: SEED,
  maxTokens,
  exaggeration: EXAGGERATION,
  // transformers.js runs English without classifier-free guidance (batch 1): same here, for the same work.
  cfgWeight: 0,
});

/**
 * `total` tokens shared by the chunks in proportion to their length (largest remainders), as a real model's
 * speech length follows its text; a forced-length stand-in then makes exactly as many as the peer in one piece.
 */
function tokenBudgets(total: number, lengths: readonly number[]): number[] {
  const all = lengths.reduce((a, b) => a + b, 0);
  const exact = lengths.map((n) => (total * n) / all);
  const budgets = exact.map(Math.floor);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; k < total - budgets.reduce((a, b) => a + b, 0); k++) budgets[order[k]![1]]! += 1;
  return budgets.map((n) => Math.max(1, n));
}

async function runCase(
  name: string,
  text: string,
  maxTokens: number,
  run: number,
  engine: Extract<BenchEngine, "ours" | "ours-file">,
): Promise<CaseResult> {
  // A fresh key per run: the voice is encoded every time, as the peer does (the node caches it per voice).
  const input: VoiceInput = { samples: voice, key: `bench:${run}:${name}:${engine}` };
  const chunks = splitText(text);
  const budgets = tokenBudgets(
    maxTokens,
    chunks.map((c) => c.text.length),
  );
  calls.length = 0;
  let firstAudio = 0;
  let samples = 0;
  const tokens: number[] = [];
  const totals = { encoderMs: 0, prefillMs: 0, stepMs: [] as number[], decoderMs: 0, decodedTokens: 0 };
  const started = performance.now();
  for (const [index, chunk] of chunks.entries()) {
    const generation = { ...options(budgets[index]!), seed: SEED + index, followsAudio: index > 0 };
    const result = await model.synthesize(
      chunk.text,
      input,
      generation,
      engine === "ours"
        ? {
            onAudio: (audio) => {
              if (firstAudio === 0) firstAudio = performance.now() - started;
              samples += audio.length;
            },
          }
        : {},
    );
    if (engine === "ours-file") {
      if (firstAudio === 0) firstAudio = performance.now() - started;
      samples += result.waveform.length;
    }
    tokens.push(...result.tokens);
    totals.encoderMs += result.timings.encoderMs;
    totals.prefillMs += result.timings.prefillMs;
    totals.stepMs.push(...result.timings.stepMs);
    totals.decoderMs += result.timings.decoderMs;
    totals.decodedTokens += result.decodedTokens;
  }
  const ended = performance.now();
  const stepTotal = totals.stepMs.reduce((a, b) => a + b, 0);
  return {
    ...summarize(
      {
        name,
        engine,
        run,
        tokens: tokens.length,
        audioSeconds: samples / 24_000,
        firstAudioMs: firstAudio,
      },
      calls,
      started,
      ended,
    ),
    tokenIds: tokens,
    engineTimings: {
      chunks: chunks.length,
      encoderMs: totals.encoderMs,
      prefillMs: totals.prefillMs,
      stepMsMean: totals.stepMs.length ? stepTotal / totals.stepMs.length : 0,
      stepMsTotal: stepTotal,
      decoderMs: totals.decoderMs,
      totalMs: ended - started,
      decodedTokens: totals.decodedTokens,
    },
  };
}

/**
 * Time to first audio for a voice already known (its conditioning and LM prefix cached, as for a stored voice):
 * the case's first chunk, stopped soon after its first window.
 */
async function cachedFirstAudio(text: string): Promise<number> {
  const input: VoiceInput = { samples: voice, key: "bench:cached" };
  const first = splitText(text)[0]!.text;
  const short = options(40);
  await model.synthesize(first, input, short); // encodes the voice and fills its prefix
  let firstAudio = 0;
  const started = performance.now();
  await model.synthesize(first, input, short, {
    onAudio: () => {
      if (firstAudio === 0) firstAudio = performance.now() - started;
    },
  });
  return firstAudio;
}

// Warm-up (first runs allocate ORT's arenas and kernels): the first case once, not reported.
const first = job.cases[0]!;
console.log(
  `bench:e2e: ${job.engine} loaded in ${(loadMs / 1000).toFixed(1)} s; warm-up (${first.name}) ...`,
);
await runCase(first.name, first.text, first.maxTokens, -1, "ours");

const results: CaseResult[] = [];
for (let run = 0; run < job.runs; run++) {
  for (const c of job.cases) {
    for (const engine of ["ours", "ours-file"] as const) {
      const result = await runCase(c.name, c.text, c.maxTokens, run, engine);
      results.push(result);
      const seconds = (result.totalMs / 1000).toFixed(1);
      console.log(
        `bench:e2e: ${engine} ${c.name} run ${run + 1}/${job.runs}: ${result.tokens} tokens in ${seconds} s`,
      );
    }
  }
}
const cachedFirstAudioMs: Record<string, number> = {};
for (const c of job.cases) cachedFirstAudioMs[c.name] = await cachedFirstAudio(c.text);

const lm = sessions.language_model;
const embedsMeta = lm.inputMetadata.find((m) => m.name === "inputs_embeds");
const hidden = embedsMeta?.isTensor ? embedsMeta.shape[2] : undefined;
const report: WorkerReport = {
  engine: "ours",
  loadMs,
  loadRssMb,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
  results,
  cachedFirstAudioMs,
  variant: model.variant,
  kv: {
    layers: model.kv.pastNames.length / 2,
    heads: model.kv.heads,
    headDim: model.kv.headDim,
    type: model.kv.type,
  },
  hidden: typeof hidden === "number" ? hidden : model.kv.heads * model.kv.headDim,
  inputIds: Object.fromEntries(job.cases.map((c) => [c.name, model.textIds(c.text)])),
  voice: { source: voiceSource, seconds: voice.length / 24_000 },
  files: Object.fromEntries(
    Object.entries(stageFiles(job.bundle, job.dtype)).map(([stage, file]) => [
      stage,
      path.relative(job.bundle, file),
    ]),
  ),
  settings: {
    provider: model.provider,
    sessionOptions: {
      executionProviders: [model.provider],
      intraOpNumThreads: job.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
    },
    decoding: "greedy (argmax after repetition penalty 1.2)",
    seed: SEED,
    exaggeration: EXAGGERATION,
    cfgWeight: 0,
    chunking: "splitText with the node's defaults (300 characters at most); the token limit shared by length",
    streaming:
      "ours: DEFAULT_STREAMING windows (onAudio), later chunks followsAudio; ours-file: no listener (500-token windows)",
  },
};
writeFileSync(job.out, JSON.stringify(report));
await model.release();
