/**
 * Tiny-random Chatterbox graphs: the real names, element types and dynamic axes of each stage
 * (engine/contract.ts), computed by a real but tiny transformer with random weights, so every engine path
 * (conditioning, prefill, KV-cache steps, stop token, token limit, decoder length rule) runs for real in tests.
 *
 * Stop control: speech embeddings carry a marker in hidden channel 0 (everything else keeps it at 0). Attention
 * head 0 of layer 0 has zero queries and keys, so it averages over every visible position, and its first value
 * channel is that marker: mean x (position + 1) counts the speech tokens seen so far, through the KV cache like
 * any other state. The STOP logit gets +100 once the count reaches 2 START tokens + `stopAfter` generated ones,
 * and -100 before (or always, when `stopAfter` is null), so the stop step is exact and the token-limit path is
 * reachable on demand.
 */
import type { Variant } from "@tts/api";

import {
  ENGLISH_EMOTION_TOKEN,
  LOGITS_VOCAB,
  MEL_BINS,
  pastKey,
  pastValue,
  presentKey,
  presentValue,
  SAMPLES_PER_TOKEN,
  SPEAKER_EMBEDDING_SIZE,
  SPEECH_CODES,
  START_SPEECH,
  STOP_SPEECH,
  type Stage,
} from "../engine/contract";
import { createRng, type Rng } from "../engine/rng";
import { GraphBuilder } from "./graph-builder";
import { attr } from "./onnx-writer";

export interface TinyModelConfig {
  variant: Variant;
  hidden: number;
  heads: number;
  layers: number;
  kvDtype: "float32" | "float16";
  /** Generated speech tokens before the LM emits STOP; null never stops (the token limit ends generation). */
  stopAfter: number | null;
  textVocab: number;
  seed: number;
  /**
   * English: text rows are `text token + text position`, two plain tables behind Gathers added, as in the real
   * export (default). False leaves the positions out, an export of another structure (guidance falls back).
   */
  textPositions?: boolean;
}

/** Rows of English's text-position table in tiny bundles (upstream learns 2048 + 2). */
export const TINY_TEXT_POSITIONS = 2050;
/** The tiny generator's name for that table (the engine finds it by structure, never by this name). */
export const TINY_TEXT_POSITION_WEIGHT = "tiny_table_7";

const MAX_POSITIONS = 4096;
const PROMPT_FRAMES = 250; // 10 s of 40 ms frames: prompt tokens and decoder conditioning
const LM_PROMPT_FRAMES: Record<Variant, number> = { turbo: 375, english: 150 }; // 15 s / 6 s
const STOP_BIAS = 100;
const CODE_DIM = 24;
/** Tokens on each side of a token that shape its decoded audio (the tiny decoder's receptive field). */
export const DECODER_CONTEXT_TOKENS = 3;

function randn(rng: Rng, count: number, std: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(rng.next(), 1e-12);
    const v = rng.next();
    const radius = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = radius * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export class Weights {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = createRng(seed);
  }
  /** A [rows, cols] matrix scaled for unit-variance activations. */
  matrix(rows: number, cols: number, std = 1 / Math.sqrt(rows)): Float32Array {
    return randn(this.rng, rows * cols, std);
  }
}

/** Zeroes channel 0 of every row: only speech embeddings may carry the stop-control marker. */
function clearMarker(table: Float32Array, width: number, value = 0): Float32Array {
  for (let row = 0; row < table.length / width; row++) table[row * width] = value;
  return table;
}

const dimOf = (g: GraphBuilder, x: string, axis: number) =>
  g.op("Slice", [g.op("Shape", [x]), g.int64([axis]), g.int64([axis + 1])]);
const scalarDimOf = (g: GraphBuilder, x: string, axis: number) =>
  g.op("Gather", [g.op("Shape", [x]), g.scalar(axis)]);
const unsqueeze = (g: GraphBuilder, x: string, axes: number[]) => g.op("Unsqueeze", [x, g.int64(axes)]);

/**
 * `melHook` (stand-in bundles) may transform the mel features [B, F, MEL_BINS] before their final Tanh, e.g. to
 * add a realistic amount of compute; the tiny bundles pass none.
 */
export function speechEncoder(
  config: TinyModelConfig,
  w: Weights,
  melHook?: (g: GraphBuilder, mel: string) => string,
): GraphBuilder {
  const g = new GraphBuilder("speech_encoder");
  const audio = g.input("audio_values", "float32", ["batch_size", "num_samples"]);
  const batch = dimOf(g, audio, 0);
  const frames = g.op("Div", [dimOf(g, audio, 1), g.int64([SAMPLES_PER_TOKEN])]);
  const framed = (count: string, width: number) => {
    const samples = g.op("Mul", [count, g.int64([SAMPLES_PER_TOKEN])]);
    const head = g.op("Slice", [audio, g.int64([0]), samples, g.int64([1])]);
    const perFrame = g.op("Mul", [count, g.int64([SAMPLES_PER_TOKEN / width])]);
    return g.op("Reshape", [
      head,
      g.op("Concat", [batch, perFrame, g.int64([width])], { axis: attr.int(0) }),
    ]);
  };

  const prompt = g.op("Min", [frames, g.int64([PROMPT_FRAMES])]);
  const promptFrames = framed(prompt, SAMPLES_PER_TOKEN);
  const codes = g.op(
    "ArgMax",
    [g.op("MatMul", [promptFrames, g.weight(w.matrix(SAMPLES_PER_TOKEN, 128), [SAMPLES_PER_TOKEN, 128])])],
    {
      axis: attr.int(2),
      keepdims: attr.int(0),
    },
  );
  const tokens = g.op("Mod", [
    g.op("Add", [g.op("Mul", [codes, g.int64([197])]), g.int64([13])]),
    g.int64([SPEECH_CODES]),
  ]);

  const mel = g.op("MatMul", [
    framed(prompt, SAMPLES_PER_TOKEN / 2),
    g.weight(w.matrix(SAMPLES_PER_TOKEN / 2, MEL_BINS), [480, MEL_BINS]),
  ]);

  const pooled = g.op("ReduceMean", [promptFrames], { axes: attr.ints([1]), keepdims: attr.int(0) });
  const speaker = g.op("MatMul", [
    pooled,
    g.weight(w.matrix(SAMPLES_PER_TOKEN, SPEAKER_EMBEDDING_SIZE, 0.5), [
      SAMPLES_PER_TOKEN,
      SPEAKER_EMBEDDING_SIZE,
    ]),
  ]);

  const lmFrames = framed(
    g.op("Min", [frames, g.int64([LM_PROMPT_FRAMES[config.variant]])]),
    SAMPLES_PER_TOKEN,
  );
  const projection = w.matrix(SAMPLES_PER_TOKEN, config.hidden, 0.5);
  // Column 0 of the projection feeds the marker channel: zero it so conditioning rows never count as speech.
  for (let row = 0; row < SAMPLES_PER_TOKEN; row++) projection[row * config.hidden] = 0;
  const features = g.op("Tanh", [
    g.op("MatMul", [lmFrames, g.weight(projection, [SAMPLES_PER_TOKEN, config.hidden])]),
  ]);
  // Outputs in the real export's order.
  g.output("audio_features", features, "float32", ["batch_size", "num_features", config.hidden]);
  g.output("audio_tokens", tokens, "int64", ["batch_size", "num_prompt_tokens"]);
  g.output("speaker_embeddings", g.op("Tanh", [speaker]), "float32", ["batch_size", SPEAKER_EMBEDDING_SIZE]);
  const melOut = melHook ? melHook(g, mel) : mel;
  g.output("speaker_features", g.op("Tanh", [melOut]), "float32", ["batch_size", "num_mel_frames", MEL_BINS]);
  return g;
}

export function embedTokens(config: TinyModelConfig, w: Weights): GraphBuilder {
  const g = new GraphBuilder("embed_tokens");
  const H = config.hidden;
  const vocab = LOGITS_VOCAB[config.variant];
  const ids = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const length = scalarDimOf(g, ids, 1);
  const single = g.op("Equal", [length, g.scalar(1)]);
  const positions = g.op("Range", [g.scalar(0), length, g.scalar(1)]);
  const clip = (x: string, max: number) => g.op("Clip", [x, g.scalar(0), g.scalar(max)]);
  const textTable = g.weight(clearMarker(w.matrix(config.textVocab, H, 1), H), [config.textVocab, H]);
  const speechTable = g.weight(clearMarker(w.matrix(vocab, H, 1), H, 1), [vocab, H]);

  if (config.variant === "turbo") {
    // Multi-token input: the last two positions are speech START; a single id is always a speech token.
    const lastTwo = g.op("GreaterOrEqual", [positions, g.op("Sub", [length, g.scalar(2)])]);
    const isSpeech = unsqueeze(g, g.op("Or", [lastTwo, single]), [0, 2]);
    const speechIds = clip(g.op("Where", [single, ids, g.scalar(START_SPEECH)]), vocab - 1);
    const textIds = clip(ids, config.textVocab - 1);
    const embeds = g.op("Where", [
      isSpeech,
      g.op("Gather", [speechTable, speechIds]),
      g.op("Gather", [textTable, textIds]),
    ]);
    g.output("inputs_embeds", embeds, "float32", ["batch_size", "sequence_length", H]);
    return g;
  }

  const positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
  const exaggeration = g.input("exaggeration", "float32", ["batch_size"]);
  // Positions up to and including the first 0 (stop-text) are text, unless this is a single speech step.
  const zeros = g.op("Cast", [g.op("Equal", [ids, g.scalar(0)])], { to: attr.int(1) });
  const firstZero = g.op("ArgMax", [zeros], { axis: attr.int(1), keepdims: attr.int(1) });
  const isText = g.op("And", [
    g.op("LessOrEqual", [unsqueeze(g, positions, [0]), firstZero]),
    g.op("Not", [single]),
  ]);
  const isEmotion = g.op("Equal", [ids, g.scalar(ENGLISH_EMOTION_TOKEN)]);
  const speechPositions = g.weight(clearMarker(w.matrix(MAX_POSITIONS, H, 0.3), H), [MAX_POSITIONS, H]);
  const speech = g.op("Add", [
    g.op("Gather", [speechTable, clip(ids, vocab - 1)]),
    g.op("Gather", [speechPositions, clip(positionIds, MAX_POSITIONS - 1)]),
  ]);
  const textTokens = g.op("Gather", [textTable, clip(ids, config.textVocab - 1)]);
  const emotionVector = g.weight(clearMarker(w.matrix(1, H, 1), H), [H]);
  // Drawn after every other table, so the others keep their values whether or not it is used.
  const textPositionValues = clearMarker(w.matrix(TINY_TEXT_POSITIONS, H, 0.3), H);
  const text =
    config.textPositions === false
      ? textTokens
      : g.op("Add", [
          textTokens,
          g.op("Gather", [
            g.weight(textPositionValues, [TINY_TEXT_POSITIONS, H], TINY_TEXT_POSITION_WEIGHT),
            clip(positionIds, TINY_TEXT_POSITIONS - 1),
          ]),
        ]);
  const emotion = g.op("Mul", [unsqueeze(g, exaggeration, [1, 2]), emotionVector]);
  const embeds = g.op("Where", [
    unsqueeze(g, isEmotion, [2]),
    emotion,
    g.op("Where", [unsqueeze(g, isText, [2]), text, speech]),
  ]);
  g.output("inputs_embeds", embeds, "float32", ["batch_size", "sequence_length", H]);
  return g;
}

function languageModel(config: TinyModelConfig, w: Weights): GraphBuilder {
  const g = new GraphBuilder("language_model");
  const { hidden: H, heads, layers, kvDtype } = config;
  const headDim = H / heads;
  const vocab = LOGITS_VOCAB[config.variant];
  const kvDims = ["batch_size", heads, "past_sequence_length", headDim];
  const embeds = g.input("inputs_embeds", "float32", ["batch_size", "sequence_length", H]);
  const mask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
  const turboPositions =
    config.variant === "turbo"
      ? g.input("position_ids", "int64", ["batch_size", "sequence_length"])
      : undefined;
  const past = Array.from({ length: layers }, (_, layer) => ({
    key: g.input(pastKey(layer), kvDtype, kvDims),
    value: g.input(pastValue(layer), kvDtype, kvDims),
  }));

  const toF32 = (x: string) => (kvDtype === "float16" ? g.op("Cast", [x], { to: attr.int(1) }) : x);
  const fromF32 = (x: string) => (kvDtype === "float16" ? g.op("Cast", [x], { to: attr.int(10) }) : x);
  // New keys/values are rounded to the cache's precision before use, so a cached step and a full recompute
  // see identical K/V (as a real fp16 export computes them).
  const asCached = (x: string) => (kvDtype === "float16" ? toF32(fromF32(x)) : x);

  const pastLength = scalarDimOf(g, past[0]!.key, 2);
  const length = scalarDimOf(g, embeds, 1);
  const total = g.op("Add", [pastLength, length]);
  const absolute = g.op("Range", [pastLength, total, g.scalar(1)]);
  const positions = turboPositions ?? unsqueeze(g, absolute, [0]);

  // Causal and padding mask as an additive bias [B, 1, S, T].
  const causal = g.op("LessOrEqual", [
    unsqueeze(g, g.op("Range", [g.scalar(0), total, g.scalar(1)]), [0]),
    unsqueeze(g, absolute, [1]),
  ]);
  const padding = unsqueeze(g, g.op("Equal", [mask, g.scalar(1)]), [1, 2]);
  const bias = g.op("Where", [
    g.op("And", [unsqueeze(g, causal, [0, 1]), padding]),
    g.float([0], []),
    g.float([-1e9], []),
  ]);

  const positionTable = g.weight(clearMarker(w.matrix(MAX_POSITIONS, H, 0.3), H), [MAX_POSITIONS, H]);
  let x = g.op("Add", [
    embeds,
    g.op("Gather", [positionTable, g.op("Clip", [positions, g.scalar(0), g.scalar(MAX_POSITIONS - 1)])]),
  ]);
  const marker = g.op("Slice", [embeds, g.int64([0]), g.int64([1]), g.int64([2])]);
  const norm = (input: string) =>
    g.op(
      "LayerNormalization",
      [input, g.float(new Array<number>(H).fill(1)), g.float(new Array<number>(H).fill(0))],
      {
        axis: attr.int(-1),
        epsilon: attr.float(1e-5),
      },
    );
  const heads4 = (input: string) =>
    g.op("Transpose", [g.op("Reshape", [input, g.int64([0, 0, heads, headDim])])], {
      perm: attr.ints([0, 2, 1, 3]),
    });

  let counterMean = "";
  const presents: [string, string][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const h = norm(x);
    const wq = w.matrix(H, H);
    const wk = w.matrix(H, H);
    const wv = w.matrix(H, H);
    if (layer === 0) {
      // Head 0 attends uniformly (zero queries/keys) and carries the speech marker in its first value channel.
      for (let row = 0; row < H; row++) {
        for (let col = 0; col < headDim; col++) {
          wq[row * H + col] = 0;
          wk[row * H + col] = 0;
        }
        wv[row * H] = 0;
      }
    }
    const q = heads4(g.op("MatMul", [h, g.weight(wq, [H, H])]));
    let k = g.op("MatMul", [h, g.weight(wk, [H, H])]);
    let v = g.op("MatMul", [h, g.weight(wv, [H, H])]);
    if (layer === 0) {
      const onehot = new Array<number>(H).fill(0);
      onehot[0] = 1;
      v = g.op("Add", [v, g.op("Mul", [marker, g.float(onehot)])]);
    }
    k = g.op("Concat", [toF32(past[layer]!.key), asCached(heads4(k))], { axis: attr.int(2) });
    v = g.op("Concat", [toF32(past[layer]!.value), asCached(heads4(v))], { axis: attr.int(2) });
    presents.push([presentKey(layer), fromF32(k)], [presentValue(layer), fromF32(v)]);

    const scores = g.op("Add", [
      g.op("Mul", [
        g.op("MatMul", [q, g.op("Transpose", [k], { perm: attr.ints([0, 1, 3, 2]) })]),
        g.float([1 / Math.sqrt(headDim)], []),
      ]),
      bias,
    ]);
    const attention = g.op("MatMul", [g.op("Softmax", [scores], { axis: attr.int(-1) }), v]);
    if (layer === 0) {
      const head0 = g.op("Slice", [attention, g.int64([0, 0]), g.int64([1, 1]), g.int64([1, 3])]);
      counterMean = g.op("Squeeze", [head0, g.int64([1, 3])]);
    }
    const merged = g.op("Reshape", [
      g.op("Transpose", [attention], { perm: attr.ints([0, 2, 1, 3]) }),
      g.int64([0, 0, H]),
    ]);
    x = g.op("Add", [x, g.op("MatMul", [merged, g.weight(w.matrix(H, H), [H, H])])]);
    const up = g.op("Tanh", [g.op("MatMul", [norm(x), g.weight(w.matrix(H, 4 * H), [H, 4 * H])])]);
    x = g.op("Add", [x, g.op("MatMul", [up, g.weight(w.matrix(4 * H, H), [4 * H, H])])]);
  }

  let logits = g.op("MatMul", [norm(x), g.weight(w.matrix(H, vocab, 2 / Math.sqrt(H)), [H, vocab])]);
  const count = g.op("Mul", [
    counterMean,
    g.op("Cast", [g.op("Add", [positions, g.scalar(1)])], { to: attr.int(1) }),
  ]);
  const threshold = config.stopAfter === null ? Number.POSITIVE_INFINITY : 2 + config.stopAfter - 0.5;
  const reached = g.op("GreaterOrEqual", [
    count,
    g.float([Number.isFinite(threshold) ? threshold : 3e38], []),
  ]);
  const stopBias = g.op("Where", [reached, g.float([STOP_BIAS], []), g.float([-STOP_BIAS], [])]);
  const stopOnehot = new Float32Array(vocab);
  stopOnehot[STOP_SPEECH] = 1;
  logits = g.op("Add", [logits, g.op("Mul", [unsqueeze(g, stopBias, [2]), g.weight(stopOnehot, [vocab])])]);
  g.output("logits", logits, "float32", ["batch_size", "sequence_length", vocab]);
  for (const [name, value] of presents) {
    g.output(name, value, kvDtype, ["batch_size", heads, "total_sequence_length", headDim]);
  }
  return g;
}

function conditionalDecoder(_config: TinyModelConfig, w: Weights): GraphBuilder {
  const g = new GraphBuilder("conditional_decoder");
  const tokens = g.input("speech_tokens", "int64", ["batch_size", "num_speech_tokens"]);
  const speaker = g.input("speaker_embeddings", "float32", ["batch_size", SPEAKER_EMBEDDING_SIZE]);
  const features = g.input("speaker_features", "float32", ["batch_size", "num_mel_frames", MEL_BINS]);
  // The prompt (F / 2 tokens) is cut inside the graph: output is 960 samples per generated token.
  const promptTokens = g.op("Div", [dimOf(g, features, 1), g.int64([2])]);
  const embedded = g.op("Gather", [
    g.weight(w.matrix(SPEECH_CODES, CODE_DIM, 1), [SPEECH_CODES, CODE_DIM]),
    tokens,
  ]);
  // A 1-D convolution over the whole token sequence (prompt included, zero-padded at both ends) gives every
  // token's audio a receptive field of DECODER_CONTEXT_TOKENS on each side, as the real decoder has one: a
  // streamed window with too little context then decodes differently from the whole sequence.
  const kernel = 2 * DECODER_CONTEXT_TOKENS + 1;
  const mixed = g.op(
    "Transpose",
    [
      g.op(
        "Conv",
        [
          g.op("Transpose", [embedded], { perm: attr.ints([0, 2, 1]) }),
          g.weight(w.matrix(CODE_DIM, CODE_DIM * kernel, 1 / Math.sqrt(kernel)), [
            CODE_DIM,
            CODE_DIM,
            kernel,
          ]),
        ],
        { pads: attr.ints([DECODER_CONTEXT_TOKENS, DECODER_CONTEXT_TOKENS]) },
      ),
    ],
    { perm: attr.ints([0, 2, 1]) },
  );
  const codes = g.op("Slice", [mixed, promptTokens, dimOf(g, tokens, 1), g.int64([1])]);
  // Each code mixes a bank of sinusoids: tonal, bounded output that changes token by token.
  const basis = new Float32Array(CODE_DIM * SAMPLES_PER_TOKEN);
  for (let row = 0; row < CODE_DIM; row++) {
    const frequency = 100 + 150 * row;
    for (let i = 0; i < SAMPLES_PER_TOKEN; i++) {
      basis[row * SAMPLES_PER_TOKEN + i] =
        Math.sin((2 * Math.PI * frequency * i) / 24_000) / Math.sqrt(CODE_DIM);
    }
  }
  const frames = g.op("Tanh", [g.op("MatMul", [codes, g.weight(basis, [CODE_DIM, SAMPLES_PER_TOKEN])])]);
  const voice = g.op("Add", [
    g.op("ReduceMean", [speaker], { axes: attr.ints([1]), keepdims: attr.int(1) }),
    unsqueeze(g, g.op("ReduceMean", [features], { axes: attr.ints([1, 2]), keepdims: attr.int(0) }), [1]),
  ]);
  const gain = g.op("Mul", [
    g.op("Add", [g.float([1]), g.op("Mul", [g.op("Tanh", [voice]), g.float([0.2])])]),
    g.float([0.3]),
  ]);
  const shaped = g.op("Mul", [frames, unsqueeze(g, gain, [2])]);
  const waveform = g.op("Reshape", [
    shaped,
    g.op("Concat", [dimOf(g, tokens, 0), g.int64([-1])], { axis: attr.int(0) }),
  ]);
  g.output("waveform", waveform, "float32", ["batch_size", "num_samples"]);
  return g;
}

/** The per-stage weight seed: (seed, stage) so stages are independent of build order. */
export function stageSeed(seed: number, stage: Stage): number {
  return (seed * 31 + [...stage].reduce((h, c) => (h * 33 + c.charCodeAt(0)) >>> 0, 5381)) >>> 0;
}

const BUILDERS: Record<Stage, (config: TinyModelConfig, w: Weights) => GraphBuilder> = {
  speech_encoder: speechEncoder,
  embed_tokens: embedTokens,
  language_model: languageModel,
  conditional_decoder: conditionalDecoder,
};

/** Serializes one stage; weights derive from (seed, stage) so stages are independent of build order. */
export function buildTinyGraph(
  stage: Stage,
  config: TinyModelConfig,
  sidecarName: string,
): { model: Uint8Array; externalData?: Uint8Array } {
  return BUILDERS[stage](config, new Weights(stageSeed(config.seed, stage))).build(sidecarName);
}
