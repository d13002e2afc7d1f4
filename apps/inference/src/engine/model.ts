import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

import * as ort from "onnxruntime-node";

import type { Device, Dtype, Variant } from "@tts/api";
import { concatSamples, prepareReferenceClip } from "@tts/audio";

import { keepFloat16InUint16 } from "../onnx/float16";
import { detectVariant, embeddingWidth, kvLayout, stageFiles, type KvLayout } from "./bundle";
import {
  ENGLISH_STOP_TEXT,
  presentFor,
  SAMPLE_RATE,
  SPEECH_CODES,
  START_SPEECH,
  STOP_SPEECH,
  TURBO_SILENCE_COUNT,
  TURBO_SILENCE_TOKEN,
  type Stage,
} from "./contract";
import { halfToFloat } from "./float-bits";
import { applyCfg, sampleToken, validateSamplingParams, type SamplingParams } from "./logits";
import { createRng } from "./rng";
import { createSessions, openSessionFile, type MatmulAccuracyLevel, type Provider } from "./sessions";
import { SharedKv } from "./shared-kv";
import { StepBatcher, type BatchMember } from "./step-batcher";
import { DEFAULT_STREAMING, StreamDecoder, windowsFor, type StreamingOptions } from "./stream-decoder";
import { normalizeText } from "./text-normalize";
import { readTextPositions, type EmbeddingTable } from "./text-positions";
import { loadTokenizer, type TextTokenizer } from "./text-tokens";
import { voiceKey } from "./voice-key";

export interface LoadOptions {
  dtype: Dtype;
  device: Device;
  threads: number;
  /** Refuse a bundle of another variant (detected from the graphs either way). */
  variant?: Variant;
  log?: (message: string) => void;
  /** Voices whose conditioning stays cached (LRU). */
  voiceCacheSize?: number;
  /** How audio is decoded while tokens are generated (DEFAULT_STREAMING unless given). */
  streaming?: StreamingOptions;
  /**
   * accuracy_level of 4-bit MatMulNBits nodes: 4 (int8 activations, the fast CPU kernels; default) or "graph"
   * (whatever level the export wrote).
   */
  matmulAccuracyLevel?: MatmulAccuracyLevel;
  /** Let ORT's intra-op threads spin between runs (default false: sessions take turns, spinning only burns cores). */
  spinning?: boolean;
  /**
   * Voices whose language-model KV cache over the conditioning prefix stays cached (most recently used kept;
   * default 4; 0 turns the reuse off). Requests with English guidance (two rows) prefill in full. Each holds
   * layers x 2 x prefix rows x hidden KV values (about 70 MB for the published Turbo), hence a smaller bound
   * than voiceCacheSize.
   */
  voicePrefixCacheSize?: number;
  /**
   * Decode steps append to KV buffers in place when the LM passes a check for it (GroupQueryAttention's shared
   * past/present mode), instead of copying the cache into new tensors every step (default true).
   */
  sharedKv?: boolean;
}

/** What speech_encoder makes of a voice; depends only on the clip, so it is computed once per clip. */
export interface Conditioning {
  audioFeatures: ort.Tensor;
  audioTokens: ort.Tensor;
  speakerEmbeddings: ort.Tensor;
  speakerFeatures: ort.Tensor;
}

export interface VoiceInput {
  /** 24 kHz mono, already prepared (trimmed, normalized). */
  samples: Float32Array;
  /** Content key; derived from the samples when absent. */
  key?: string;
}

export interface GenerationOptions {
  sampling: SamplingParams;
  seed: number;
  maxTokens: number;
  /** English only. */
  exaggeration: number;
  /** English only: classifier-free guidance weight (0 disables the unconditional row). */
  cfgWeight: number;
  /**
   * The text continues audio already sent (a later chunk of a job): the listener is not waiting for its first
   * samples, so streamed windows start large (fewer decoder runs over the voice prompt).
   */
  followsAudio?: boolean;
}

export interface StageTimings {
  encoderMs: number;
  prefillMs: number;
  stepMs: number[];
  /** Summed over every streamed window. */
  decoderMs: number;
  /** From the start of the synthesis to its first audio chunk. */
  firstAudioMs: number;
  totalMs: number;
}

export interface SynthesisResult {
  /** The whole waveform, unless `onAudio` took it chunk by chunk (then empty). */
  waveform: Float32Array;
  sampleRate: number;
  /** Generated speech token ids (START and STOP excluded), as sampled. */
  tokens: number[];
  /** Exactly what conditional_decoder received. */
  decoderTokens: number[];
  stopReason: "stop-token" | "max-tokens";
  voiceCached: boolean;
  timings: StageTimings;
  /** Tokens run through the decoder, windows' context included: linear in the length, never quadratic. */
  decodedTokens: number;
}

export interface SynthesisHooks {
  /** Called after every generated token; throwing from here (e.g. on cancellation) ends the synthesis. */
  onToken?: (generated: number) => void;
  /** Audio as it is decoded, in order (24 kHz); the result's waveform is then left empty. */
  onAudio?: (samples: Float32Array) => void;
}

export class SynthesisError extends Error {
  override name = "SynthesisError";
}

const DEFAULT_VOICE = "default_voice.wav";

keepFloat16InUint16();

function int64(values: readonly number[], dims: readonly number[]): ort.Tensor {
  return new ort.Tensor(
    "int64",
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}

function promptTokens(conditioning: Conditioning): number[] {
  return Array.from(conditioning.audioTokens.data as BigInt64Array, Number);
}

/** English embed_tokens positions for the prefill template: speech-range ids (emotion, START) sit at 0. */
export function englishPrefillPositions(ids: readonly number[]): number[] {
  return ids.map((id, i) => (id >= START_SPEECH ? 0 : i - 1));
}

/** Logits as float32 whatever the graph emits (fp16 exports may return half precision). */
function floatData(tensor: ort.Tensor): Float32Array {
  return floatRange(tensor, 0, tensor.size);
}

/** Elements [start, end) of `tensor` as float32: a view for float32 data, a converted copy for float16. */
function floatRange(tensor: ort.Tensor, start: number, end: number): Float32Array {
  if (tensor.type === "float32") return (tensor.data as Float32Array).subarray(start, end);
  if (tensor.type === "float16") {
    const half = (tensor.data as Uint16Array).subarray(start, end);
    const out = new Float32Array(half.length);
    for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i]!);
    return out;
  }
  throw new SynthesisError(`unexpected ${tensor.type} logits`);
}

/**
 * Classifier-free guidance: what the unconditional row (row 1 of a batch-2 prefill) holds in place of the text,
 * by variant. Every other row (conditioning, emotion, speech START) stays as in the conditional row, and each
 * generated token feeds both rows.
 * - English (upstream `T3.prepare_input_embeds`): the text *token* embeddings are zeroed before the learned text
 *   *positions* are added, so the text rows (start-of-text through the first stop-text) are the position
 *   embeddings alone, at their positions.
 * - Multilingual (for when it lands): zeroed after the sum, so those rows are all zeros.
 */
export const UNCONDITIONAL_TEXT = {
  english: "positions",
  multilingual: "zeros",
} as const;

/**
 * Rewrites the text rows (indexes 1..stopTextIndex, after the emotion row) of row 1 of `text` as the variant's
 * convention says. `positions` gives each row's text position; `table` is English's text-position table.
 */
export function unconditionalText(
  text: ort.Tensor,
  stopTextIndex: number,
  convention: (typeof UNCONDITIONAL_TEXT)[keyof typeof UNCONDITIONAL_TEXT],
  positions: readonly number[],
  table?: EmbeddingTable,
): void {
  const [, length = 0, hidden = 0] = text.dims;
  const data = text.data as Float32Array;
  const rowStart = (row: number) => (length + row) * hidden;
  if (convention === "zeros") return void data.fill(0, rowStart(1), rowStart(stopTextIndex + 1));
  if (!table || table.cols !== hidden)
    throw new SynthesisError(`the text-position table does not fit embeddings ${hidden} wide`);
  for (let row = 1; row <= stopTextIndex; row++) {
    const position = positions[row]!;
    if (position < 0 || position >= table.rows)
      throw new SynthesisError(`text position ${position} is past the ${table.rows} the model has learned`);
    data.set(table.values.subarray(position * hidden, (position + 1) * hidden), rowStart(row));
  }
}

/** How a model guides generation: classifier-free guidance as upstream does it, or none (see `guidance`). */
export type Guidance = "cfg" | "none";

/** The LM's KV cache after a voice's conditioning rows alone (ORT never writes to inputs, so it is fed as is). */
interface VoicePrefix {
  /** The conditioning it was computed from (a re-encoded voice gets a new prefix). */
  conditioning: Conditioning;
  length: number;
  cache: Record<string, ort.Tensor>;
}

/** Single-token embeddings kept per model (Turbo's embed_tokens depends on the id alone). */
const TOKEN_EMBED_CACHE_SIZE = 8192;

/**
 * One loaded Chatterbox bundle: its four sessions, tokenizer and voice-conditioning cache. Runs the whole
 * pipeline (normalize, tokenize, condition, prefill, decode loop, vocode). Not thread-safe: a worker owns one.
 */
export class ChatterboxModel {
  /** speech_encoder runs so far (cache misses). */
  encoderRuns = 0;
  /** Rows the last synthesis prefilled (conditioning prefix + text), for benchmarks. */
  lastPrefillLength = 0;
  /** LM runs over a voice's conditioning prefix alone (prefix-cache misses). */
  prefixRuns = 0;
  /** Decode steps run on shared KV buffers, through the step batcher (see StepBatcher). */
  sharedKvSteps = 0;
  /** language_model calls the step batcher made: fewer than sharedKvSteps when syntheses shared steps. */
  get batchedRuns(): number {
    return this.batcher?.runs ?? 0;
  }
  /** Whether the LM passed the batching check (see stepBatcher). */
  private batcherCheck: Promise<boolean> | undefined;
  private batcher: StepBatcher | undefined;
  /** Per voice key: the LM's KV cache after the conditioning rows (LRU, bounded by voicePrefixCacheSize). */
  private readonly prefixes = new Map<string, VoicePrefix>();
  private readonly voices = new Map<string, Conditioning>();
  /** Turbo: inputs_embeds row of each speech token fed back so far (one embed_tokens run per distinct id). */
  private readonly tokenEmbeds = new Map<number, Float32Array>();
  /** Grow-only run of int64 ones; attention masks are views of it (ORT never writes to inputs). */
  private ones = new BigInt64Array(0);
  /** Grow-only scratch for the CFG-combined logits row (English with guidance). */
  private cfgRow = new Float32Array(0);
  private defaultVoiceClip: Promise<VoiceInput> | undefined;

  private constructor(
    readonly dir: string,
    readonly variant: Variant,
    readonly provider: Provider,
    readonly kv: KvLayout,
    private readonly sessions: Record<Stage, ort.InferenceSession>,
    private readonly tokenizer: TextTokenizer,
    private readonly voiceCacheSize: number,
    private readonly streaming: StreamingOptions,
    private readonly prefixCacheSize: number,
    private readonly shareKv: boolean,
    /** English's text-position table, when the export has one (see readTextPositions). */
    private readonly textPositions: EmbeddingTable | undefined,
    /** Why an English model cannot guide (its export has no separate text-position table). */
    readonly guidanceProblem: string | undefined,
  ) {}

  /**
   * "cfg" when the model runs classifier-free guidance exactly as upstream does (English with its text-position
   * table); "none" for Turbo, which has no guidance, and for an English export without that table, which runs
   * with cfgWeight 0 (as the exporter's own reference inference does) and refuses a request for more.
   */
  get guidance(): Guidance {
    return this.variant === "english" && this.textPositions ? "cfg" : "none";
  }

  static async load(dir: string, options: LoadOptions): Promise<ChatterboxModel> {
    const files = stageFiles(dir, options.dtype);
    const { sessions, provider } = await createSessions(files, options);
    const variant = detectVariant(sessions, options.variant);
    const tokenizer = await loadTokenizer(path.join(dir, "tokenizer.json"), variant);
    // An export whose table cannot be used (another structure, a data type we do not read) runs unguided.
    const found =
      variant === "english"
        ? await readTextPositions(files.embed_tokens, embeddingWidth(sessions.language_model)).catch(
            (error: unknown) => ({
              missing: `its text-position table could not be read (${error instanceof Error ? error.message : String(error)})`,
            }),
          )
        : undefined;
    return new ChatterboxModel(
      dir,
      variant,
      provider,
      kvLayout(sessions.language_model),
      sessions,
      tokenizer,
      options.voiceCacheSize ?? 32,
      options.streaming ?? DEFAULT_STREAMING,
      options.voicePrefixCacheSize ?? 4,
      options.sharedKv ?? true,
      found && "table" in found ? found.table : undefined,
      found && "missing" in found ? found.missing : undefined,
    );
  }

  /** The bundle's language_model alone, opened with the options `load` would use (for benchmarks). */
  static async openLanguageModel(dir: string, options: LoadOptions): Promise<ort.InferenceSession> {
    return openSessionFile(stageFiles(dir, options.dtype).language_model, { ...options, device: "cpu" });
  }

  async release(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((session) => session.release()));
  }

  /** The bundle's default voice, prepared like an upload (once); Turbo repositories ship none. */
  defaultVoice(): Promise<VoiceInput> {
    this.defaultVoiceClip ??= (async () => {
      const file = path.join(this.dir, DEFAULT_VOICE);
      if (!existsSync(file)) {
        throw new SynthesisError(
          `This ${this.variant} bundle has no ${DEFAULT_VOICE}: give a reference voice clip.`,
        );
      }
      const clip = prepareReferenceClip(await readFile(file), { minSeconds: 1 });
      return { samples: clip.samples, key: `default:${this.dir}` };
    })();
    return this.defaultVoiceClip;
  }

  async conditioning(voice: VoiceInput): Promise<{ conditioning: Conditioning; cached: boolean }> {
    const { conditioning, cached } = await this.voiceEntry(voice);
    return { conditioning, cached };
  }

  private async voiceEntry(
    voice: VoiceInput,
  ): Promise<{ key: string; conditioning: Conditioning; cached: boolean }> {
    const key = voice.key ?? voiceKey(voice.samples);
    return { key, ...(await this.conditioningFor(key, voice)) };
  }

  private async conditioningFor(
    key: string,
    voice: VoiceInput,
  ): Promise<{ conditioning: Conditioning; cached: boolean }> {
    const hit = this.voices.get(key);
    if (hit) {
      // Refresh LRU position.
      this.voices.delete(key);
      this.voices.set(key, hit);
      return { conditioning: hit, cached: true };
    }
    const out = await this.sessions.speech_encoder.run({
      audio_values: new ort.Tensor("float32", voice.samples, [1, voice.samples.length]),
    });
    this.encoderRuns++;
    const conditioning: Conditioning = {
      audioFeatures: out.audio_features!,
      audioTokens: out.audio_tokens!,
      speakerEmbeddings: out.speaker_embeddings!,
      speakerFeatures: out.speaker_features!,
    };
    this.voices.set(key, conditioning);
    if (this.voices.size > this.voiceCacheSize) {
      const oldest = this.voices.keys().next().value!;
      this.voices.delete(oldest);
      this.prefixes.delete(oldest);
    }
    return { conditioning, cached: false };
  }

  /** The variant's LM text input for `text` (normalized here). */
  textIds(text: string): number[] {
    return this.tokenizer.encode(normalizeText(text, this.variant));
  }

  /** embed_tokens for `ids` repeated over `batch` rows. English also needs positions and exaggeration. */
  async embed(
    ids: readonly number[],
    batch: number,
    english?: { positions: readonly number[]; exaggeration: number },
  ): Promise<ort.Tensor> {
    const rows = (values: readonly number[]) => Array.from({ length: batch }, () => values).flat();
    const feeds: Record<string, ort.Tensor> = { input_ids: int64(rows(ids), [batch, ids.length]) };
    if (english) {
      feeds.position_ids = int64(rows(english.positions), [batch, ids.length]);
      feeds.exaggeration = new ort.Tensor("float32", new Float32Array(batch).fill(english.exaggeration), [
        batch,
      ]);
    }
    return (await this.sessions.embed_tokens.run(feeds)).inputs_embeds!;
  }

  /** An empty KV cache for `batch` rows, typed as the graph declares it. */
  emptyCache(batch: number): Record<string, ort.Tensor> {
    const dims = [batch, this.kv.heads, 0, this.kv.headDim];
    const empty = () =>
      this.kv.type === "float16"
        ? new ort.Tensor("float16", new Uint16Array(0), dims)
        : new ort.Tensor("float32", new Float32Array(0), dims);
    return Object.fromEntries(this.kv.pastNames.map((name) => [name, empty()]));
  }

  /**
   * One language_model call. `past` tensors are fed back exactly as they came out (no JS-side copy); the
   * returned cache maps each `present.N.*` output to its `past_key_values.N.*` input by name.
   */
  async languageModel(
    embeds: ort.Tensor,
    pastLength: number,
    past: Record<string, ort.Tensor>,
  ): Promise<{ logits: ort.Tensor; cache: Record<string, ort.Tensor> }> {
    const [batch = 1, length = 0] = embeds.dims;
    const total = pastLength + length;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: embeds,
      attention_mask: new ort.Tensor("int64", this.onesView(batch * total), [batch, total]),
      ...past,
    };
    if (this.variant === "turbo") {
      const positions = new BigInt64Array(batch * length);
      for (let b = 0; b < batch; b++)
        for (let i = 0; i < length; i++) positions[b * length + i] = BigInt(pastLength + i);
      feeds.position_ids = new ort.Tensor("int64", positions, [batch, length]);
    }
    const out = await this.sessions.language_model.run(feeds);
    const cache = Object.fromEntries(this.kv.pastNames.map((name) => [name, out[presentFor(name)]!]));
    return { logits: out.logits!, cache };
  }

  /**
   * One decode step over every row of `kv` (see StepBatcher): each row at its own length, through a
   * right-padded attention mask, and its new KV row written into the shared buffers in place.
   */
  private async batchStep(embeds: ort.Tensor, kv: SharedKv, quiet = false): Promise<ort.Tensor> {
    const rows = kv.order;
    const total = Math.max(...rows.map((row) => row.length)) + 1;
    const mask = new BigInt64Array(rows.length * total);
    for (const [i, row] of rows.entries()) mask.fill(1n, i * total, i * total + row.length + 1);
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: embeds,
      attention_mask: new ort.Tensor("int64", mask, [rows.length, total]),
    };
    if (this.variant === "turbo") {
      const positions = BigInt64Array.from(rows, (row) => BigInt(row.length));
      feeds.position_ids = new ort.Tensor("int64", positions, [rows.length, 1]);
    }
    const { past, present } = kv.step();
    // Every output is fetched (the others left to ORT), so the binding names its results in graph order.
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const name of this.sessions.language_model.outputNames) fetches[name] = present[name] ?? null;
    // The check's runs may fail on a graph without the support: that is an answer, not an error to log.
    const out = await this.sessions.language_model.run(
      { ...feeds, ...past },
      fetches,
      quiet ? { logSeverityLevel: 4 } : {},
    );
    return out.logits!;
  }

  private newBatcher(hidden: number, quiet = false): StepBatcher {
    return new StepBatcher(new SharedKv(this.kv), hidden, (embeds, kv) => this.batchStep(embeds, kv, quiet));
  }

  /** inputs_embeds' width, when the graph declares it. */
  private hiddenSize(): number | undefined {
    const meta = this.sessions.language_model.inputMetadata.find((m) => m.name === "inputs_embeds");
    const hidden = meta?.isTensor ? meta.shape[2] : undefined;
    return typeof hidden === "number" ? hidden : undefined;
  }

  /**
   * The batcher every decode loop steps through, when this LM can run steps on shared past/present buffers with
   * rows of different lengths: two sequences of 3 and 5 positions stepped together twice must give the copying
   * path's logits (GroupQueryAttention passes; attention built from Concat, as in the tiny graphs, does not, and
   * neither does anything unexpected in a graph). Checked once, on made-up rows.
   */
  private async stepBatcher(): Promise<StepBatcher | undefined> {
    if (!this.shareKv) return undefined;
    this.batcherCheck ??= this.checkBatching().catch(() => false);
    if (!(await this.batcherCheck)) return undefined;
    this.batcher ??= this.newBatcher(this.hiddenSize()!);
    return this.batcher;
  }

  private async checkBatching(): Promise<boolean> {
    const hidden = this.hiddenSize();
    if (hidden === undefined) return false;
    const batcher = this.newBatcher(hidden, true);
    const rows = (count: number, seed: number) =>
      new ort.Tensor(
        "float32",
        Float32Array.from({ length: count * hidden }, (_, i) => 0.5 * Math.sin(0.7 * i + seed)),
        [1, count, hidden],
      );
    const prompts = [3, 5];
    const caches: Record<string, ort.Tensor>[] = [];
    const members: BatchMember[] = [];
    for (const [i, prompt] of prompts.entries()) {
      const { cache } = await this.languageModel(rows(prompt, i), 0, this.emptyCache(1));
      caches.push(cache);
      members.push(batcher.join(cache, 1, prompt));
    }
    for (let step = 0; step < 2; step++) {
      const embeds = prompts.map((_, i) => rows(1, 10 + 2 * step + i));
      const batched = await Promise.all(members.map((member, i) => batcher.step(member, embeds[i]!)));
      for (const [i, prompt] of prompts.entries()) {
        const copied = await this.languageModel(embeds[i]!, prompt + step, caches[i]!);
        caches[i] = copied.cache;
        const a = floatData(copied.logits);
        const b = floatData(batched[i]!);
        let scale = 1;
        for (const x of a) scale = Math.max(scale, Math.abs(x));
        if (a.length !== b.length || a.some((x, k) => !(Math.abs(x - b[k]!) <= 1e-4 * scale))) return false;
      }
    }
    return batcher.runs === 2;
  }

  /** The LM's KV cache over `conditioning`'s audio_features rows (batch 1), from the cache or computed now. */
  private async voicePrefix(key: string, conditioning: Conditioning): Promise<VoicePrefix> {
    const hit = this.prefixes.get(key);
    if (hit && hit.conditioning === conditioning) {
      this.prefixes.delete(key);
      this.prefixes.set(key, hit);
      return hit;
    }
    const features = conditioning.audioFeatures;
    const { cache } = await this.languageModel(features, 0, this.emptyCache(1));
    this.prefixRuns++;
    const prefix: VoicePrefix = { conditioning, length: features.dims[1]!, cache };
    this.prefixes.delete(key);
    this.prefixes.set(key, prefix);
    while (this.prefixes.size > this.prefixCacheSize)
      this.prefixes.delete(this.prefixes.keys().next().value!);
    return prefix;
  }

  /** `count` int64 ones (a view of a grow-only buffer, so a decode step allocates no mask). */
  private onesView(count: number): BigInt64Array {
    if (this.ones.length < count)
      this.ones = new BigInt64Array(Math.max(count, 2 * this.ones.length, 1024)).fill(1n);
    return this.ones.subarray(0, count);
  }

  /**
   * embed_tokens for one generated token. Turbo's embeddings depend on the id alone, so each id's row is computed
   * once and reused (a Map lookup instead of a session run per step); English's depend on the step's position.
   */
  private async stepEmbeds(
    token: number,
    batch: number,
    english: { positions: readonly number[]; exaggeration: number } | undefined,
  ): Promise<ort.Tensor> {
    if (english || batch !== 1) return this.embed([token], batch, english);
    let row = this.tokenEmbeds.get(token);
    if (!row) {
      const embeds = await this.embed([token], 1);
      row = embeds.data as Float32Array;
      if (this.tokenEmbeds.size < TOKEN_EMBED_CACHE_SIZE) this.tokenEmbeds.set(token, row);
    }
    return new ort.Tensor("float32", row, [1, 1, row.length]);
  }

  /** Runs the whole pipeline for one text. */
  async synthesize(
    text: string,
    voice: VoiceInput | undefined,
    options: GenerationOptions,
    hooks: SynthesisHooks = {},
  ): Promise<SynthesisResult> {
    validateSamplingParams(options.sampling);
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1)
      throw new RangeError(`maxTokens must be a whole number >= 1 (got ${options.maxTokens})`);
    const started = performance.now();
    const timings: StageTimings = {
      encoderMs: 0,
      prefillMs: 0,
      stepMs: [],
      decoderMs: 0,
      firstAudioMs: 0,
      totalMs: 0,
    };

    let mark = performance.now();
    const { key, conditioning, cached } = await this.voiceEntry(voice ?? (await this.defaultVoice()));
    timings.encoderMs = performance.now() - mark;

    const english = this.variant === "english";
    const guided = english && options.cfgWeight !== 0;
    if (guided && !this.textPositions)
      throw new SynthesisError(
        `classifier-free guidance is unavailable: ${this.guidanceProblem ?? "no table"}`,
      );
    const batch = guided ? 2 : 1;
    const ids = this.textIds(text);

    mark = performance.now();
    const positions = english ? englishPrefillPositions(ids) : [];
    const textEmbeds = await this.embed(
      ids,
      batch,
      english ? { positions, exaggeration: options.exaggeration } : undefined,
    );
    let logits: ort.Tensor;
    let cache: Record<string, ort.Tensor>;
    let pastLength: number;
    const stopTextIndex = guided ? ids.indexOf(ENGLISH_STOP_TEXT) : -1;
    // Guidance's two rows take a full prefill: GroupQueryAttention (in the published quantized LMs) refuses a
    // multi-token input on top of a cache when batch > 1.
    if (this.prefixCacheSize > 0 && batch === 1) {
      // The conditioning rows come first and attend only to themselves, so their KV is the same for every text
      // with this voice: computed once, then only the text is prefilled on top of it (positions continue from
      // the cache's length: Turbo's position_ids say so, English's attention counts them from the cache).
      const prefix = await this.voicePrefix(key, conditioning);
      ({ logits, cache } = await this.languageModel(textEmbeds, prefix.length, prefix.cache));
      pastLength = prefix.length + textEmbeds.dims[1]!;
    } else {
      if (stopTextIndex > 0)
        unconditionalText(
          textEmbeds,
          stopTextIndex,
          UNCONDITIONAL_TEXT.english,
          positions,
          this.textPositions,
        );
      const prefill = this.prefillEmbeds(conditioning.audioFeatures, textEmbeds);
      ({ logits, cache } = await this.languageModel(prefill, 0, this.emptyCache(batch)));
      pastLength = prefill.dims[1]!;
    }
    this.lastPrefillLength = pastLength;
    timings.prefillMs = performance.now() - mark;

    const chunks: Float32Array[] = [];
    const listener = !hooks.onAudio ? "none" : options.followsAudio ? "continuation" : "first";
    const stream = new StreamDecoder(
      (window) => this.decode(conditioning, window),
      windowsFor(this.streaming, listener),
      (samples) => {
        if (timings.firstAudioMs === 0) timings.firstAudioMs = performance.now() - started;
        if (hooks.onAudio) hooks.onAudio(samples);
        else chunks.push(samples);
      },
    );
    // Only real codes reach the decoder; a token-limit run has no STOP, so nothing else is dropped.
    const speech: number[] = [];
    const rng = createRng(options.seed);
    const generated = [START_SPEECH];
    // Upstream Turbo penalizes START only on the first step, then the generated tokens alone (kept in their own
    // array rather than sliced from `generated` every step).
    const sampled: number[] = [];
    const penalized = () => (this.variant === "turbo" && sampled.length > 0 ? sampled : generated);
    let stopReason: SynthesisResult["stopReason"] = "max-tokens";
    // Decided at the first step: the batcher (shared in-place KV, steps taken with any other synthesis running
    // on this model) when the graph supports it, else the copying path. Left before the last decoder run.
    let batcher: StepBatcher | undefined;
    let member: BatchMember | undefined;
    try {
      for (let step = 0; ; step++) {
        const token = sampleToken(
          this.lastRow(logits, guided, options.cfgWeight),
          penalized(),
          options.sampling,
          rng,
        );
        if (token === STOP_SPEECH) {
          stopReason = "stop-token";
          break;
        }
        generated.push(token);
        sampled.push(token);
        hooks.onToken?.(generated.length - 1);
        if (token < SPEECH_CODES) {
          speech.push(token);
          await stream.push(speech);
        }
        if (generated.length - 1 >= options.maxTokens) break;
        mark = performance.now();
        const embeds = await this.stepEmbeds(
          token,
          batch,
          english ? { positions: [step + 1], exaggeration: options.exaggeration } : undefined,
        );
        if (step === 0) {
          batcher = await this.stepBatcher();
          member = batcher?.join(cache, batch, pastLength);
        }
        if (batcher && member) {
          logits = await batcher.step(member, embeds);
          this.sharedKvSteps++;
        } else ({ logits, cache } = await this.languageModel(embeds, pastLength, cache));
        pastLength += 1;
        timings.stepMs.push(performance.now() - mark);
      }
    } finally {
      if (member) batcher!.leave(member);
    }

    const ending = english ? [] : new Array<number>(TURBO_SILENCE_COUNT).fill(TURBO_SILENCE_TOKEN);
    await stream.finish([...speech, ...ending]);
    timings.decoderMs = stream.decoderMs;
    timings.totalMs = performance.now() - started;
    return {
      waveform: concatSamples(chunks),
      sampleRate: SAMPLE_RATE,
      tokens: sampled,
      decoderTokens: [...promptTokens(conditioning), ...speech, ...ending],
      stopReason,
      voiceCached: cached,
      timings,
      decodedTokens: stream.decodedTokens,
    };
  }

  /**
   * conditional_decoder over the voice's prompt tokens and `tokens`: 960 samples per token (the graph cuts the
   * prompt's share). The streaming decoder calls this per window.
   */
  async decode(conditioning: Conditioning, tokens: readonly number[]): Promise<Float32Array> {
    const ids = [...promptTokens(conditioning), ...tokens];
    const decoded = await this.sessions.conditional_decoder.run({
      speech_tokens: int64(ids, [1, ids.length]),
      speaker_embeddings: conditioning.speakerEmbeddings,
      speaker_features: conditioning.speakerFeatures,
    });
    return floatData(decoded.waveform!);
  }

  /** concat(audio_features, text embeddings) on the sequence axis, per batch row. */
  private prefillEmbeds(features: ort.Tensor, text: ort.Tensor): ort.Tensor {
    const [batch = 1, textLength = 0, hidden = 0] = text.dims;
    const featureRows = features.dims[1]!;
    const length = featureRows + textLength;
    const out = new Float32Array(batch * length * hidden);
    const featureData = features.data as Float32Array;
    const textData = text.data as Float32Array;
    for (let b = 0; b < batch; b++) {
      out.set(featureData.subarray(0, featureRows * hidden), b * length * hidden);
      out.set(
        textData.subarray(b * textLength * hidden, (b + 1) * textLength * hidden),
        (b * length + featureRows) * hidden,
      );
    }
    return new ort.Tensor("float32", out, [batch, length, hidden]);
  }

  /** The next-token logits: the last position of row 0, guided by row 1 when CFG is on. */
  private lastRow(logits: ort.Tensor, guided: boolean, cfgWeight: number): Float32Array {
    const [batch = 1, length = 1, vocab = 0] = logits.dims;
    // Only the rows needed are read (and converted, for float16 logits), never the whole prefill's logits.
    const row = (b: number) =>
      floatRange(logits, (b * length + length - 1) * vocab, (b * length + length) * vocab);
    if (!(guided && batch === 2)) return row(0);
    if (this.cfgRow.length !== vocab) this.cfgRow = new Float32Array(vocab);
    return applyCfg(row(0), row(1), cfgWeight, this.cfgRow);
  }
}
