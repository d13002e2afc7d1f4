// e2e bench worker, our engine: loads the bundle with ChatterboxModel (src/engine/model.ts), runs every case
// through `synthesize` (streaming, `onAudio`), times each ORT call, and writes a WorkerReport. Runs in its own
// process so that its peak RSS is its own. Also writes the voice clip and the input ids the peer then uses.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import type { InferenceSession } from "onnxruntime-node";

import { stageFiles } from "../../src/engine/bundle";
import { ENGLISH_DEFAULTS, TURBO_DEFAULTS } from "../../src/engine/logits";
import { ChatterboxModel, type GenerationOptions, type VoiceInput } from "../../src/engine/model";
import { syntheticVoice } from "../../src/engine/synthetic-voice";
import {
  instrumentSessions,
  STAGE_NAMES,
  summarize,
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

async function runCase(name: string, text: string, maxTokens: number, run: number): Promise<CaseResult> {
  // A fresh key per run: the voice is encoded every time, as the peer does (the node caches it per voice).
  const input: VoiceInput = { samples: voice, key: `bench:${run}:${name}` };
  calls.length = 0;
  let firstAudio = 0;
  let samples = 0;
  const started = performance.now();
  const result = await model.synthesize(text, input, options(maxTokens), {
    onAudio: (chunk) => {
      if (firstAudio === 0) firstAudio = performance.now() - started;
      samples += chunk.length;
    },
  });
  const ended = performance.now();
  const t = result.timings;
  const stepTotal = t.stepMs.reduce((a, b) => a + b, 0);
  return {
    ...summarize(
      {
        name,
        engine: "ours",
        run,
        tokens: result.tokens.length,
        audioSeconds: samples / result.sampleRate,
        firstAudioMs: firstAudio,
      },
      calls,
      started,
      ended,
    ),
    tokenIds: result.tokens,
    engineTimings: {
      encoderMs: t.encoderMs,
      prefillMs: t.prefillMs,
      stepMsMean: t.stepMs.length ? stepTotal / t.stepMs.length : 0,
      stepMsTotal: stepTotal,
      decoderMs: t.decoderMs,
      firstAudioMs: t.firstAudioMs,
      totalMs: t.totalMs,
      decodedTokens: result.decodedTokens,
    },
  };
}

// Warm-up (first runs allocate ORT's arenas and kernels): the first case once, not reported.
const first = job.cases[0]!;
console.log(
  `bench:e2e: ${job.engine} loaded in ${(loadMs / 1000).toFixed(1)} s; warm-up (${first.name}) ...`,
);
await runCase(first.name, first.text, first.maxTokens, -1);

const results: CaseResult[] = [];
for (let run = 0; run < job.runs; run++) {
  for (const c of job.cases) {
    const result = await runCase(c.name, c.text, c.maxTokens, run);
    results.push(result);
    const seconds = (result.totalMs / 1000).toFixed(1);
    console.log(
      `bench:e2e: ${job.engine} ${c.name} run ${run + 1}/${job.runs}: ${result.tokens} tokens in ${seconds} s`,
    );
  }
}

const lm = sessions.language_model;
const embedsMeta = lm.inputMetadata.find((m) => m.name === "inputs_embeds");
const hidden = embedsMeta?.isTensor ? embedsMeta.shape[2] : undefined;
const report: WorkerReport = {
  engine: "ours",
  loadMs,
  loadRssMb,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
  results,
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
    streaming: "DEFAULT_STREAMING windows (onAudio)",
  },
};
writeFileSync(job.out, JSON.stringify(report));
await model.release();
