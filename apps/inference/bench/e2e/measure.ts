// Shared by the e2e bench's workers: a timeline of every ORT `session.run` (stage, start, end), and the per-case
// figures computed from it the same way for both engines, so that "JS overhead per step" means the same thing.

export const STAGE_NAMES = [
  "speech_encoder",
  "embed_tokens",
  "language_model",
  "conditional_decoder",
] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export interface RunCall {
  stage: StageName;
  start: number;
  end: number;
  /** Sequence rows of the call's input (input_ids or inputs_embeds): 1 for a decode step, more for a prefill. */
  rows: number;
}

/** Rows of a feed's main sequence input, from its dims ([batch, rows, ...]). */
function inputRows(feeds: unknown): number {
  const inputs = feeds as Record<string, { dims?: readonly number[] } | undefined> | undefined;
  return (inputs?.inputs_embeds ?? inputs?.input_ids)?.dims?.[1] ?? 0;
}

interface Runnable {
  run: (...args: never[]) => Promise<unknown>;
}

/**
 * Replaces each session's `run` with one that records its time inside ORT (from the call to the resolved
 * result) on `calls`. `stageOf` maps the owner's session key to a stage (transformers.js names the LM `model`).
 */
export function instrumentSessions(
  sessions: Record<string, unknown>,
  stageOf: (key: string) => StageName | undefined,
  calls: RunCall[],
): void {
  for (const [key, value] of Object.entries(sessions)) {
    const stage = stageOf(key);
    if (!stage) continue;
    const session = value as Runnable;
    const original = session.run.bind(session);
    session.run = async (...args: never[]) => {
      const start = performance.now();
      try {
        return await original(...args);
      } finally {
        calls.push({ stage, start, end: performance.now(), rows: inputRows(args[0]) });
      }
    };
  }
}

export interface CaseInput {
  name: string;
  text: string;
  /** Token limit: 25 tokens per second of audio wanted (40 ms each). */
  maxTokens: number;
}

/** ours: the node's pipeline, streamed; ours-file: the same, nobody listening (`tts synth`); peer: transformers.js. */
export type BenchEngine = "ours" | "ours-file" | "peer";

export interface CaseResult {
  name: string;
  engine: BenchEngine;
  run: number;
  /** Speech tokens generated (the LM's output, STOP excluded). */
  tokens: number;
  audioSeconds: number;
  totalMs: number;
  /** First audio out: streaming chunk (ours), the whole waveform (peer: it does not stream). */
  firstAudioMs: number;
  /** speech_encoder time inside ORT (the voice is encoded on every run, by both engines). */
  encoderMs: number;
  /** Time inside ORT of every multi-row embed_tokens and language_model call (text, conditioning, every chunk). */
  prefillMs: number;
  /** Decode steps (single-row language_model calls). */
  steps: number;
  /** Mean wall time per step: from the previous LM call's end, decoder/encoder calls in between excluded. */
  stepMs: number;
  /** Mean time per step inside ORT (embed_tokens + language_model). */
  stepOrtMs: number;
  /** stepMs - stepOrtMs: logits processing, sampling, tensor building, cache handling, awaits. */
  jsOverheadMs: number;
  /** Steps per second of the decode loop (1000 / stepMs). */
  tokensPerSecond: number;
  /** conditional_decoder time inside ORT, all calls (ours decodes in streamed windows with context). */
  decoderMs: number;
  decoderCalls: number;
  /** totalMs / audio length. */
  rtf: number;
  /** Time inside ORT over the whole case, and the share of the wall it is. */
  ortMs: number;
  ortShare: number;
  /** process.resourceUsage().maxRSS after this case, MiB (a process-wide peak: it only grows). */
  peakRssMb: number;
  /** The generated speech token ids (STOP excluded), to check both engines made the same ones. */
  tokenIds?: number[];
  /** The engine's own timings when it has any (ours: ChatterboxModel.synthesize's `timings`). */
  engineTimings?: Record<string, number>;
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Figures for one case from its ORT timeline (calls made between `started` and `ended`). */
export function summarize(
  base: Pick<CaseResult, "name" | "engine" | "run" | "tokens" | "audioSeconds" | "firstAudioMs">,
  calls: readonly RunCall[],
  started: number,
  ended: number,
): CaseResult {
  const of = (stage: StageName) => calls.filter((c) => c.stage === stage);
  const ms = (list: readonly RunCall[]) => sum(list.map((c) => c.end - c.start));
  const lm = of("language_model");
  const embeds = of("embed_tokens");
  const encoder = of("speech_encoder");
  const decoder = of("conditional_decoder");
  const within = (list: readonly RunCall[], from: number, to: number) =>
    list.filter((c) => c.start >= from && c.end <= to);

  // A text split into chunks prefills once per chunk: every multi-row call is prefill, every single-row LM call
  // a step (measured from the LM call before it, which is in the same chunk).
  const prefillMs = ms(embeds.filter((c) => c.rows > 1)) + ms(lm.filter((c) => c.rows > 1));

  const stepWalls: number[] = [];
  const stepOrts: number[] = [];
  for (let k = 1; k < lm.length; k++) {
    if (lm[k]!.rows > 1) continue;
    const from = lm[k - 1]!.end;
    const to = lm[k]!.end;
    const excluded = ms(within(decoder, from, to)) + ms(within(encoder, from, to));
    stepWalls.push(to - from - excluded);
    stepOrts.push(ms(within(embeds, from, to)) + ms(within(lm, from, to)));
  }
  const steps = stepWalls.length;
  const stepMs = steps ? sum(stepWalls) / steps : 0;
  const stepOrtMs = steps ? sum(stepOrts) / steps : 0;
  const totalMs = ended - started;
  const ortMs = ms(calls);
  return {
    ...base,
    totalMs,
    encoderMs: ms(encoder),
    prefillMs,
    steps,
    stepMs,
    stepOrtMs,
    jsOverheadMs: stepMs - stepOrtMs,
    tokensPerSecond: stepMs > 0 ? 1000 / stepMs : 0,
    decoderMs: ms(decoder),
    decoderCalls: decoder.length,
    rtf: base.audioSeconds > 0 ? totalMs / 1000 / base.audioSeconds : Number.NaN,
    ortMs,
    ortShare: totalMs > 0 ? ortMs / totalMs : 0,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

/** What the orchestrator hands a worker (as a JSON file). */
export interface WorkerJob {
  engine: "ours" | "peer";
  bundle: string;
  dtype: "q4" | "fp32";
  threads: number;
  runs: number;
  cases: CaseInput[];
  /** Where the worker writes its WorkerReport. */
  out: string;
  /** The voice both engines use, 24 kHz mono float32 (ours writes it, the peer reads it). */
  voiceFile: string;
  /** Peer only: the folder transformers.js loads (config files + links to the bundle's files). */
  peerDir?: string;
  /** Peer only: the transformers.js entry module. */
  peerModule?: string;
  /** Peer only: LM text input ids per case, as our tokenizer makes them (the same inputs for both). */
  inputIds?: Record<string, number[]>;
  variant?: "turbo" | "english";
  /** Peer only: ban non-speech ids (bad_words_ids), see e2e.bench.ts --peer-speech-only. */
  peerSpeechOnly?: boolean;
}

export interface WorkerReport {
  engine: "ours" | "peer";
  /** Ours: time to first audio with the voice already cached (encoder and prefix cached), per case. */
  cachedFirstAudioMs?: Record<string, number>;
  loadMs: number;
  /** RSS right after loading, MiB. */
  loadRssMb: number;
  peakRssMb: number;
  results: CaseResult[];
  /** Ours: what the peer needs to load the same graphs. */
  variant?: "turbo" | "english";
  kv?: { layers: number; heads: number; headDim: number; type: string };
  hidden?: number;
  inputIds?: Record<string, number[]>;
  voice?: { source: string; seconds: number };
  /** Files each stage loaded, relative to the bundle. */
  files?: Record<string, string>;
  settings?: Record<string, unknown>;
}
