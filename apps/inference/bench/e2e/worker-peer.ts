// e2e bench worker, the peer: transformers.js (@huggingface/transformers, installed on demand into a cache
// folder, never a workspace dependency) loading the same graphs with its own ChatterboxModel class, run as its
// users run it: `ChatterboxModel.from_pretrained(dir, { dtype })` with its defaults (device: Node's default, the
// CPU execution provider; session options: none beyond that and its log level, so ORT's own defaults), then
// `model.generate({ input_ids, attention_mask, audio_values, exaggeration, max_new_tokens, do_sample: false,
// repetition_penalty })`, which returns the whole waveform (it does not stream). Inputs are the exact ones our
// engine used: the same LM text ids and the same prepared voice samples.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import {
  instrumentSessions,
  summarize,
  type CaseResult,
  type RunCall,
  type StageName,
  type WorkerJob,
  type WorkerReport,
} from "./measure";

interface PeerTensor {
  dims: number[];
  data: ArrayLike<number>;
}
interface PeerModel {
  sessions: Record<string, unknown>;
  generate(params: Record<string, unknown>): Promise<PeerTensor>;
  dispose?(): Promise<unknown>;
}
interface PeerModule {
  env: { allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string; logLevel?: unknown };
  Tensor: new (type: string, data: unknown, dims: number[]) => PeerTensor;
  ChatterboxModel: { from_pretrained(id: string, options: Record<string, unknown>): Promise<PeerModel> };
}

const EXAGGERATION = 0.5;
const REPETITION_PENALTY = 1.2;
const SAMPLE_RATE = 24_000;
const SUFFIX = { q4: "_q4", fp32: "" } as const;
const PEER_STAGES = ["speech_encoder", "embed_tokens", "language_model", "conditional_decoder"] as const;

const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as WorkerJob;
const dir = job.peerDir!;
const tf = (await import(pathToFileURL(job.peerModule!).href)) as PeerModule;

// Local folder only: no Hub look-ups.
tf.env.allowRemoteModels = false;
tf.env.allowLocalModels = true;
tf.env.localModelPath = path.dirname(dir);

// Its per-file dtype map, as its model cards do for English (only the LM is published quantized): the asked
// dtype where the folder has that file, else fp32 — the same files our engine's stageFiles picks.
const dtype = Object.fromEntries(
  PEER_STAGES.map((stage) => [
    stage,
    existsSync(path.join(dir, "onnx", `${stage}${SUFFIX[job.dtype]}.onnx`)) ? job.dtype : "fp32",
  ]),
);

const loadStarted = performance.now();
const model = await tf.ChatterboxModel.from_pretrained(dir, { dtype });
const loadMs = performance.now() - loadStarted;
const loadRssMb = process.memoryUsage().rss / 1024 / 1024;

const calls: RunCall[] = [];
instrumentSessions(
  model.sessions,
  (key) =>
    key === "model"
      ? "language_model"
      : (PEER_STAGES as readonly string[]).includes(key)
        ? (key as StageName)
        : undefined,
  calls,
);

// START (6561) and the ids above STOP (English's LM has 8194 logits, Turbo's 6563).
const vocab = job.variant === "english" ? 8194 : 6563;
const badWords = job.peerSpeechOnly
  ? [6561, ...Array.from({ length: vocab - 6563 }, (_, i) => 6563 + i)].map((id) => [id])
  : undefined;

const voiceBytes = readFileSync(job.voiceFile);
const voice = new Float32Array(voiceBytes.buffer, voiceBytes.byteOffset, voiceBytes.byteLength / 4).slice();

async function runCase(name: string, maxTokens: number, run: number): Promise<CaseResult> {
  const ids = job.inputIds![name]!;
  calls.length = 0;
  // Collects the generated ids (its first put is the prompt) to compare with ours; one array push per step.
  const tokenIds: number[] = [];
  let prompt = true;
  const streamer = {
    put(value: bigint[][]) {
      if (prompt) prompt = false;
      else for (const id of value[0] ?? []) if (id !== 6562n) tokenIds.push(Number(id));
    },
    end() {},
  };
  const started = performance.now();
  const waveform = await model.generate({
    input_ids: new tf.Tensor(
      "int64",
      BigInt64Array.from(ids, (v) => BigInt(v)),
      [1, ids.length],
    ),
    attention_mask: new tf.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    audio_values: new tf.Tensor("float32", voice.slice(), [1, voice.length]),
    exaggeration: EXAGGERATION,
    max_new_tokens: maxTokens,
    do_sample: false,
    repetition_penalty: REPETITION_PENALTY,
    streamer,
    ...(badWords ? { bad_words_ids: badWords } : {}),
  });
  const ended = performance.now();
  const samples = waveform.dims.at(-1) ?? 0;
  const summary = summarize(
    {
      name,
      engine: "peer",
      run,
      // One token per LM call, STOP excluded.
      tokens: tokenIds.length,
      audioSeconds: samples / SAMPLE_RATE,
      // No streaming: the first audio is the whole waveform.
      firstAudioMs: ended - started,
    },
    calls,
    started,
    ended,
  );
  return { ...summary, tokenIds };
}

const first = job.cases[0]!;
console.log(
  `bench:e2e: ${job.engine} loaded in ${(loadMs / 1000).toFixed(1)} s; warm-up (${first.name}) ...`,
);
await runCase(first.name, first.maxTokens, -1);

const results: CaseResult[] = [];
for (let run = 0; run < job.runs; run++) {
  for (const c of job.cases) {
    const result = await runCase(c.name, c.maxTokens, run);
    results.push(result);
    const seconds = (result.totalMs / 1000).toFixed(1);
    console.log(
      `bench:e2e: ${job.engine} ${c.name} run ${run + 1}/${job.runs}: ${result.tokens} tokens in ${seconds} s`,
    );
  }
}

const version = (
  JSON.parse(readFileSync(path.join(path.dirname(job.peerModule!), "..", "package.json"), "utf8")) as {
    version: string;
  }
).version;
const report: WorkerReport = {
  engine: "peer",
  loadMs,
  loadRssMb,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
  results,
  settings: {
    library: `@huggingface/transformers@${version}`,
    load: "ChatterboxModel.from_pretrained(dir, { dtype }) — device left to its default",
    dtype,
    device: "default (Node: CPU execution provider)",
    sessionOptions:
      "its defaults: executionProviders ['cpu'], logSeverityLevel from env.logLevel (warning); " +
      "threads, graph optimization and execution mode left to onnxruntime-node's defaults",
    generate: {
      do_sample: false,
      repetition_penalty: REPETITION_PENALTY,
      exaggeration: EXAGGERATION,
      guidance: "none (its ChatterboxModel runs batch 1, no CFG)",
      streaming: "none (generate returns the whole waveform; first audio = total)",
      bad_words_ids: badWords ? `${badWords.length} non-speech ids (--peer-speech-only)` : "none",
      streamer: "a token collector (to compare ids with ours): one array push per step",
    },
  },
};
writeFileSync(job.out, JSON.stringify(report));
await model.dispose?.();
