import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

import * as ort from "onnxruntime-node";

import type { Device, Dtype, Variant } from "@tts/api";
import { concatSamples, prepareReferenceClip } from "@tts/audio";

import { keepFloat16InUint16 } from "../onnx/float16";
import { detectVariant, kvLayout, stageFiles, type KvLayout } from "./bundle";
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
import { applyCfg, sampleToken, validateSamplingParams, type SamplingParams } from "./logits";
import { createRng } from "./rng";
import { createSessions, type Provider } from "./sessions";
import { DEFAULT_STREAMING, StreamDecoder, type StreamingOptions } from "./stream-decoder";
import { normalizeText } from "./text-normalize";
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

function halfToFloat(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Logits as float32 whatever the graph emits (fp16 exports may return half precision). */
function floatData(tensor: ort.Tensor): Float32Array {
  if (tensor.type === "float32") return tensor.data as Float32Array;
  if (tensor.type === "float16") return Float32Array.from(tensor.data as Uint16Array, halfToFloat);
  throw new SynthesisError(`unexpected ${tensor.type} logits`);
}

/**
 * One loaded Chatterbox bundle: its four sessions, tokenizer and voice-conditioning cache. Runs the whole
 * pipeline (normalize, tokenize, condition, prefill, decode loop, vocode). Not thread-safe: a worker owns one.
 */
export class ChatterboxModel {
  /** speech_encoder runs so far (cache misses). */
  encoderRuns = 0;
  private readonly voices = new Map<string, Conditioning>();
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
  ) {}

  static async load(dir: string, options: LoadOptions): Promise<ChatterboxModel> {
    const files = stageFiles(dir, options.dtype);
    const { sessions, provider } = await createSessions(files, options);
    const variant = detectVariant(sessions, options.variant);
    const tokenizer = await loadTokenizer(path.join(dir, "tokenizer.json"), variant);
    return new ChatterboxModel(
      dir,
      variant,
      provider,
      kvLayout(sessions.language_model),
      sessions,
      tokenizer,
      options.voiceCacheSize ?? 32,
      options.streaming ?? DEFAULT_STREAMING,
    );
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
    const key = voice.key ?? voiceKey(voice.samples);
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
    if (this.voices.size > this.voiceCacheSize) this.voices.delete(this.voices.keys().next().value!);
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
      attention_mask: int64(new Array<number>(batch * total).fill(1), [batch, total]),
      ...past,
    };
    if (this.variant === "turbo") {
      const positions = Array.from({ length }, (_, i) => pastLength + i);
      feeds.position_ids = int64(Array.from({ length: batch }, () => positions).flat(), [batch, length]);
    }
    const out = await this.sessions.language_model.run(feeds);
    const cache = Object.fromEntries(this.kv.pastNames.map((name) => [name, out[presentFor(name)]!]));
    return { logits: out.logits!, cache };
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
    const { conditioning, cached } = await this.conditioning(voice ?? (await this.defaultVoice()));
    timings.encoderMs = performance.now() - mark;

    const english = this.variant === "english";
    const guided = english && options.cfgWeight !== 0;
    const batch = guided ? 2 : 1;
    const ids = this.textIds(text);

    mark = performance.now();
    const textEmbeds = await this.embed(
      ids,
      batch,
      english
        ? {
            positions: englishPrefillPositions(ids),
            exaggeration: options.exaggeration,
          }
        : undefined,
    );
    const prefill = this.prefillEmbeds(
      conditioning.audioFeatures,
      textEmbeds,
      guided ? ids.indexOf(ENGLISH_STOP_TEXT) : -1,
    );
    let { logits, cache } = await this.languageModel(prefill, 0, this.emptyCache(batch));
    let pastLength = prefill.dims[1]!;
    timings.prefillMs = performance.now() - mark;

    const chunks: Float32Array[] = [];
    const stream = new StreamDecoder(
      (window) => this.decode(conditioning, window),
      this.streaming,
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
    // Upstream Turbo penalizes START only on the first step, then the generated tokens alone.
    const penalized = () =>
      this.variant === "turbo" && generated.length > 1 ? generated.slice(1) : generated;
    let stopReason: SynthesisResult["stopReason"] = "max-tokens";
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
      hooks.onToken?.(generated.length - 1);
      if (token < SPEECH_CODES) {
        speech.push(token);
        await stream.push(speech);
      }
      if (generated.length - 1 >= options.maxTokens) break;
      mark = performance.now();
      const embeds = await this.embed(
        [token],
        batch,
        english ? { positions: [step + 1], exaggeration: options.exaggeration } : undefined,
      );
      ({ logits, cache } = await this.languageModel(embeds, pastLength, cache));
      pastLength += 1;
      timings.stepMs.push(performance.now() - mark);
    }

    const ending = english ? [] : new Array<number>(TURBO_SILENCE_COUNT).fill(TURBO_SILENCE_TOKEN);
    await stream.finish([...speech, ...ending]);
    timings.decoderMs = stream.decoderMs;
    timings.totalMs = performance.now() - started;
    return {
      waveform: concatSamples(chunks),
      sampleRate: SAMPLE_RATE,
      tokens: generated.slice(1),
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

  /**
   * concat(audio_features, text embeddings) on the sequence axis, per batch row. With guidance, row 1 is the
   * unconditional row: its text positions (start-text up to and including stop-text) are zeroed.
   */
  private prefillEmbeds(features: ort.Tensor, text: ort.Tensor, stopTextIndex: number): ort.Tensor {
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
    if (batch === 2 && stopTextIndex > 0) {
      out.fill(0, (length + featureRows + 1) * hidden, (length + featureRows + stopTextIndex + 1) * hidden);
    }
    return new ort.Tensor("float32", out, [batch, length, hidden]);
  }

  /** The next-token logits: the last position of row 0, guided by row 1 when CFG is on. */
  private lastRow(logits: ort.Tensor, guided: boolean, cfgWeight: number): Float32Array {
    const [batch = 1, length = 1, vocab = 0] = logits.dims;
    const data = floatData(logits);
    const row = (b: number) =>
      data.subarray((b * length + length - 1) * vocab, (b * length + length) * vocab);
    return guided && batch === 2 ? applyCfg(row(0), row(1), cfgWeight) : row(0);
  }
}
