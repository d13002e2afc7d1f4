/**
 * Full-size stand-in bundles: the real graph contract (as the tiny-random bundles have it) at the published
 * models' shapes and quantization, with seeded random weights, so benchmarks see realistic compute and memory
 * traffic without the real weights. docs/performance.md ("Stand-in bundles") lists what is assumed.
 *
 * - language_model: Turbo is GPT-2-like (LayerNorm, fused QKV, GELU MLP, learned positions); English is
 *   Llama-shaped (RMSNorm, separate Q/K/V/O, gated SiLU MLP, rotary positions). Attention is com.microsoft
 *   GroupQueryAttention, as in the published quantized LMs. With dtype q4 every large MatMul is a
 *   com.microsoft MatMulNBits (bits 4, block 32, uint8 zero points, accuracy_level 0), as the published q4 exports.
 * - Forced length: as in the tiny graphs, speech embeddings carry a marker in hidden channel 0. Here layer 0
 *   writes the marker into value channel 0 of head 0 (two elementwise ops), so the KV cache carries it, and a
 *   CumSum over that one channel counts the speech tokens seen. STOP gets +100 once the count reaches 2 START
 *   tokens + `tokens` generated ones, -100 before: a few scalar ops per position, no weight surgery.
 *   The count ignores attention_mask (the engine never pads a batch).
 * - embed_tokens: the tiny logic over full-size tables (q4 Turbo: com.microsoft GatherBlockQuantized).
 * - speech_encoder: the tiny encoder at the real hidden size, plus a conv trunk of the published encoder's size.
 * - conditional_decoder: a conv1d decoder (token encoder, x2 upsampling to mel rate, a flow-matching-like
 *   estimator run for a fixed number of steps over prompt + new frames, the prompt's frames cut, then a
 *   HiFi-GAN-like upsampling vocoder over the new frames only), so its compute scales with the decoded length.
 *
 * Weights are generated one tensor at a time while the .onnx_data sidecar is written (never all in memory).
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";

import type { Variant } from "@tts/api";
import { encodeWav } from "@tts/audio";

import {
  DTYPE_SUFFIX,
  ENGLISH_EMOTION_TOKEN,
  LOGITS_VOCAB,
  MEL_BINS,
  pastKey,
  pastValue,
  presentKey,
  presentValue,
  SAMPLE_RATE,
  SPEAKER_EMBEDDING_SIZE,
  SPEECH_CODES,
  STAGES,
  START_SPEECH,
  STOP_SPEECH,
  type Stage,
} from "../engine/contract";
import { syntheticVoice } from "../engine/synthetic-voice";
import { GraphBuilder } from "./graph-builder";
import { attr } from "./onnx-writer";
import { speechEncoder, stageSeed, TINY_TEXT_POSITIONS, Weights, type TinyModelConfig } from "./tiny-graphs";
import { englishTokenizer, turboTokenizer } from "./tiny-tokenizer";

export type StandinDtype = "fp32" | "q4";

export interface StandinOptions {
  variant: Variant;
  dtype: StandinDtype;
  /** Speech tokens the LM generates before STOP (exactly). */
  tokens: number;
  seed?: number;
  /** Defaults: the published shapes (STANDIN_SHAPES). Reduce them for quick tests. */
  layers?: number;
  hidden?: number;
  heads?: number;
  /** MLP width (default 4 x hidden). */
  mlp?: number;
  /** Text vocabulary of embed_tokens (Turbo default 50276; English 704). */
  textVocab?: number;
  /** conditional_decoder channel width (default 512) and blocks per stack (default DECODER_DEFAULTS.blocks). */
  decoderWidth?: number;
  decoderBlocks?: number;
  /** Conv blocks of the speech encoder's trunk (default DECODER_DEFAULTS.encoderBlocks). */
  encoderBlocks?: number;
}

export interface StandinShape {
  layers: number;
  hidden: number;
  heads: number;
  mlp: number;
  textVocab: number;
}

/** The published language models' shapes. */
export const STANDIN_SHAPES: Record<Variant, StandinShape> = {
  turbo: { layers: 24, hidden: 1024, heads: 16, mlp: 4096, textVocab: 50276 },
  english: { layers: 30, hidden: 1024, heads: 16, mlp: 4096, textVocab: 704 },
};

/** Flow-matching steps the decoder stand-in unrolls (Turbo's distilled decoder takes few; English 10). */
export const DECODER_STEPS: Record<Variant, number> = { turbo: 2, english: 10 };
export const DECODER_DEFAULTS = { width: 512, blocks: 10, encoderBlocks: 30 };

export const Q4_BLOCK_SIZE = 32;
const STOP_BIAS = 100;
const MAX_POSITIONS = 4096;
const MS_DOMAIN = "com.microsoft";
/** onnx TensorProto.DataType.INT32 (GroupQueryAttention takes its lengths as int32). */
const INT32 = 6;
/** Llama's rotary base. */
const ROPE_THETA = 10_000;
/** Vocoder upsampling per mel frame (8 x 5 x 3 x 4 = 480 samples per 50 Hz mel frame, 2 frames per token). */
const VOCODER_STRIDES = [8, 5, 3] as const;
const VOCODER_FINAL_STRIDE = 4;

// ---------------------------------------------------------------------------------------------------------------
// Fast seeded random fills (xorshift32); the values only need to be deterministic and bounded.

function mix(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0 || 1;
}

/** Uniform in [-amplitude, amplitude). */
function uniform(count: number, seed: number, amplitude: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  const scale = amplitude / 2147483648;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * scale - amplitude;
  }
  return out;
}

function randomBytes(count: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(count / 4));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s >>> 0;
  }
  return new Uint8Array(words.buffer, 0, count);
}

const asBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Large weights, generated lazily (while the sidecar is written), fp32 or 4-bit MatMulNBits. */
class LazyWeights {
  private index = 0;
  constructor(
    private readonly g: GraphBuilder,
    private readonly seed: number,
    private readonly dtype: StandinDtype,
  ) {}

  private nextSeed(): number {
    return mix(this.seed, this.index++);
  }

  /** An fp32 tensor, uniform with standard deviation `std`. */
  tensor(dims: readonly number[], std: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const seed = this.nextSeed();
    return this.g.lazyWeight("float32", dims, count * 4, () =>
      asBytes(uniform(count, seed, std * Math.sqrt(3))),
    );
  }

  /** x [.., K] @ W [K, N]; W ~ std 1/sqrt(K) (unit-variance activations). q4: MatMulNBits. */
  matmul(x: string, K: number, N: number, std = 1 / Math.sqrt(K)): string {
    if (this.dtype === "fp32") return this.g.op("MatMul", [x, this.tensor([K, N], std)]);
    if (K % Q4_BLOCK_SIZE !== 0) throw new RangeError(`q4 MatMul needs K % ${Q4_BLOCK_SIZE} == 0 (K=${K})`);
    const blocks = K / Q4_BLOCK_SIZE;
    const blobSize = (Q4_BLOCK_SIZE * 4) / 8;
    const bSeed = this.nextSeed();
    const sSeed = this.nextSeed();
    // Uniform nibbles around zero point 8: (q - 8) has std ~4.6, so scale ~ std / 4.6 (+-25% per block).
    const B = this.g.lazyWeight("uint8", [N, blocks, blobSize], N * blocks * blobSize, () =>
      randomBytes(N * blocks * blobSize, bSeed),
    );
    const scales = this.g.lazyWeight("float32", [N * blocks], N * blocks * 4, () => {
      const s = uniform(N * blocks, sSeed, 0.25);
      const base = std / 4.6;
      for (let i = 0; i < s.length; i++) s[i] = base * (1 + s[i]!);
      return asBytes(s);
    });
    const zpBytes = N * Math.ceil((blocks * 4) / 8);
    const zeroPoints = this.g.lazyWeight("uint8", [zpBytes], zpBytes, () =>
      new Uint8Array(zpBytes).fill(0x88),
    );
    return this.g.domainOp(MS_DOMAIN, 1, "MatMulNBits", [x, B, scales, zeroPoints], {
      K: attr.int(K),
      N: attr.int(N),
      bits: attr.int(4),
      block_size: attr.int(Q4_BLOCK_SIZE),
      accuracy_level: attr.int(0),
    });
  }
}

const scalarDimOf = (g: GraphBuilder, x: string, axis: number) =>
  g.op("Gather", [g.op("Shape", [x]), g.scalar(axis)]);
const dimOf = (g: GraphBuilder, x: string, axis: number) =>
  g.op("Slice", [g.op("Shape", [x]), g.int64([axis]), g.int64([axis + 1])]);
const unsqueeze = (g: GraphBuilder, x: string, axes: number[]) => g.op("Unsqueeze", [x, g.int64(axes)]);

export interface ResolvedStandin extends StandinShape {
  variant: Variant;
  dtype: StandinDtype;
  tokens: number;
  seed: number;
  decoderWidth: number;
  decoderBlocks: number;
  encoderBlocks: number;
}

export function resolveStandin(options: StandinOptions): ResolvedStandin {
  const shape = STANDIN_SHAPES[options.variant];
  const hidden = options.hidden ?? shape.hidden;
  const resolved: ResolvedStandin = {
    variant: options.variant,
    dtype: options.dtype,
    tokens: options.tokens,
    seed: options.seed ?? 0,
    layers: options.layers ?? shape.layers,
    hidden,
    heads: options.heads ?? shape.heads,
    mlp: options.mlp ?? 4 * hidden,
    textVocab: options.textVocab ?? shape.textVocab,
    decoderWidth: options.decoderWidth ?? DECODER_DEFAULTS.width,
    decoderBlocks: options.decoderBlocks ?? DECODER_DEFAULTS.blocks,
    encoderBlocks: options.encoderBlocks ?? DECODER_DEFAULTS.encoderBlocks,
  };
  if (!Number.isInteger(resolved.tokens) || resolved.tokens < 0) {
    throw new RangeError(`tokens must be a whole number >= 0 (got ${JSON.stringify(options.tokens)})`);
  }
  for (const key of [
    "layers",
    "hidden",
    "heads",
    "mlp",
    "textVocab",
    "decoderWidth",
    "decoderBlocks",
  ] as const) {
    if (!Number.isInteger(resolved[key]) || resolved[key] < 1) throw new RangeError(`${key} must be >= 1`);
  }
  if (!Number.isInteger(resolved.encoderBlocks) || resolved.encoderBlocks < 0) {
    throw new RangeError("encoderBlocks must be >= 0");
  }
  if (hidden % resolved.heads !== 0) throw new RangeError("hidden must be a multiple of heads");
  if (resolved.dtype === "q4" && (hidden % Q4_BLOCK_SIZE || resolved.mlp % Q4_BLOCK_SIZE)) {
    throw new RangeError(`q4 needs hidden and mlp to be multiples of ${Q4_BLOCK_SIZE}`);
  }
  return resolved;
}

// ---------------------------------------------------------------------------------------------------------------
// language_model

/** cos and sin caches [MAX_POSITIONS, headDim / 2] for GroupQueryAttention's rotary embedding. */
function rotaryCaches(g: GraphBuilder, headDim: number): [string, string] {
  const half = headDim / 2;
  const cos = new Array<number>(MAX_POSITIONS * half);
  const sin = new Array<number>(MAX_POSITIONS * half);
  for (let p = 0; p < MAX_POSITIONS; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / ROPE_THETA ** ((2 * i) / headDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return [g.float(cos, [MAX_POSITIONS, half]), g.float(sin, [MAX_POSITIONS, half])];
}

export function standinLanguageModel(c: ResolvedStandin): GraphBuilder {
  const g = new GraphBuilder("language_model");
  const w = new LazyWeights(g, stageSeed(c.seed, "language_model"), c.dtype);
  const fp32 = new LazyWeights(g, stageSeed(c.seed + 1, "language_model"), "fp32");
  const { hidden: H, heads, layers } = c;
  const headDim = H / heads;
  const vocab = LOGITS_VOCAB[c.variant];
  const turbo = c.variant === "turbo";
  const kvDims = ["batch_size", heads, "past_sequence_length", headDim];
  const embeds = g.input("inputs_embeds", "float32", ["batch_size", "sequence_length", H]);
  const mask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
  const positionIds = turbo ? g.input("position_ids", "int64", ["batch_size", "sequence_length"]) : undefined;
  const past = Array.from({ length: layers }, (_, layer) => ({
    key: g.input(pastKey(layer), "float32", kvDims),
    value: g.input(pastValue(layer), "float32", kvDims),
  }));

  // Lengths come from the mask, not the cache's shape: a runtime may hand GroupQueryAttention one buffer as
  // past and present, sized for the longest sequence (past_present_share_buffer).
  const length = scalarDimOf(g, embeds, 1);
  const total = scalarDimOf(g, mask, 1);
  const pastLength = g.op("Sub", [total, length]);
  // Attention is com.microsoft GroupQueryAttention, as in the published quantized LMs: it keeps the KV cache
  // and applies the causal mask itself. Its inputs derive from the mask the way exporters wire them.
  const seqlensK = g.op(
    "Cast",
    [g.op("Sub", [g.op("ReduceSum", [mask, g.int64([1])], { keepdims: attr.int(0) }), g.scalar(1)])],
    {
      to: attr.int(INT32),
    },
  );
  const totalLength = g.op("Cast", [total], { to: attr.int(INT32) });
  // English (Llama) rotates Q and K inside the attention, at positions counted from the cache length.
  const rotary = turbo ? undefined : rotaryCaches(g, headDim);

  const ones = new Array<number>(H).fill(1);
  const norm = (x: string) => {
    if (turbo) {
      return g.op("LayerNormalization", [x, g.float(ones), g.float(new Array<number>(H).fill(0))], {
        axis: attr.int(-1),
        epsilon: attr.float(1e-5),
      });
    }
    // RMSNorm as plain ops (as exported from Llama).
    const meanSquare = g.op("ReduceMean", [g.op("Mul", [x, x])], {
      axes: attr.ints([-1]),
      keepdims: attr.int(1),
    });
    const inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [meanSquare, g.float([1e-5], [])])])]);
    return g.op("Mul", [g.op("Mul", [x, inv]), g.float(ones)]);
  };
  let x = embeds;
  if (positionIds) {
    const table = fp32.tensor([MAX_POSITIONS, H], 0.02);
    x = g.op("Add", [
      x,
      g.op("Gather", [table, g.op("Clip", [positionIds, g.scalar(0), g.scalar(MAX_POSITIONS - 1)])]),
    ]);
  }
  const marker = g.op("Slice", [embeds, g.int64([0]), g.int64([1]), g.int64([2])]);
  const onehot = new Array<number>(H).fill(0);
  onehot[0] = 1;
  const keep = onehot.map((v) => 1 - v);

  let count = "";
  const presents: [string, string][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const h = norm(x);
    let q: string;
    let k: string;
    let v: string;
    if (turbo) {
      // GPT-2's fused c_attn, split into Q, K, V.
      const qkv = w.matmul(h, H, 3 * H);
      q = g.op("Slice", [qkv, g.int64([0]), g.int64([H]), g.int64([-1])]);
      k = g.op("Slice", [qkv, g.int64([H]), g.int64([2 * H]), g.int64([-1])]);
      v = g.op("Slice", [qkv, g.int64([2 * H]), g.int64([3 * H]), g.int64([-1])]);
    } else {
      q = w.matmul(h, H, H);
      k = w.matmul(h, H, H);
      v = w.matmul(h, H, H);
    }
    if (layer === 0) {
      // Value channel 0 of head 0 := the speech marker, so the cache carries the count state.
      v = g.op("Add", [g.op("Mul", [v, g.float(keep)]), g.op("Mul", [marker, g.float(onehot)])]);
    }
    const [attention, kAll, vAll] = g.domainOpOutputs(
      MS_DOMAIN,
      1,
      "GroupQueryAttention",
      [q, k, v, past[layer]!.key, past[layer]!.value, seqlensK, totalLength, ...(rotary ?? [])],
      3,
      {
        num_heads: attr.int(heads),
        kv_num_heads: attr.int(heads),
        ...(rotary ? { do_rotary: attr.int(1) } : {}),
      },
    ) as [string, string, string];
    presents.push([presentKey(layer), kAll], [presentValue(layer), vAll]);
    if (layer === 0) {
      const markers = g.op("Slice", [vAll, g.int64([0, 0]), g.int64([1, 1]), g.int64([1, 3])]);
      const cumulative = g.op("CumSum", [markers, g.scalar(2)]);
      const mine = g.op("Slice", [
        cumulative,
        g.op("Unsqueeze", [pastLength, g.int64([0])]),
        g.op("Unsqueeze", [total, g.int64([0])]),
        g.int64([2]),
      ]);
      count = g.op("Squeeze", [mine, g.int64([1, 3])]);
    }
    x = g.op("Add", [x, w.matmul(attention, H, H)]);
    const h2 = norm(x);
    let act: string;
    if (turbo) {
      const up = w.matmul(h2, H, c.mlp);
      act = g.op("Mul", [up, g.op("Sigmoid", [g.op("Mul", [up, g.float([1.702], [])])])]); // GELU (sigmoid approx.)
    } else {
      const gate = w.matmul(h2, H, c.mlp);
      act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), w.matmul(h2, H, c.mlp)]); // SiLU(gate) * up
    }
    x = g.op("Add", [x, w.matmul(act, c.mlp, H)]);
  }

  let logits = w.matmul(norm(x), H, vocab, 2 / Math.sqrt(H));
  const reached = g.op("GreaterOrEqual", [count, g.float([2 + c.tokens - 0.5], [])]);
  const stopBias = g.op("Where", [reached, g.float([STOP_BIAS], []), g.float([-STOP_BIAS], [])]);
  const stopOnehot = new Array<number>(vocab).fill(0);
  stopOnehot[STOP_SPEECH] = 1;
  logits = g.op("Add", [logits, g.op("Mul", [unsqueeze(g, stopBias, [2]), g.float(stopOnehot)])]);
  g.output("logits", logits, "float32", ["batch_size", "sequence_length", vocab]);
  for (const [name, value] of presents) {
    g.output(name, value, "float32", ["batch_size", heads, "total_sequence_length", headDim]);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------------------------
// conditional_decoder

export function standinDecoder(c: ResolvedStandin): GraphBuilder {
  const g = new GraphBuilder("conditional_decoder");
  const w = new LazyWeights(g, stageSeed(c.seed, "conditional_decoder"), "fp32");
  const C = c.decoderWidth;
  const blocks = c.decoderBlocks;
  const tokens = g.input("speech_tokens", "int64", ["batch_size", "num_speech_tokens"]);
  const speaker = g.input("speaker_embeddings", "float32", ["batch_size", SPEAKER_EMBEDDING_SIZE]);
  const features = g.input("speaker_features", "float32", ["batch_size", "num_mel_frames", MEL_BINS]);

  const conv = (x: string, cin: number, cout: number, kernel: number, dilation = 1) =>
    g.op("Conv", [x, w.tensor([cout, cin, kernel], 1 / Math.sqrt(cin * kernel)), w.tensor([cout], 0.01)], {
      pads: attr.ints([((kernel - 1) * dilation) >> 1, ((kernel - 1) * dilation) >> 1]),
      dilations: attr.ints([dilation]),
    });
  const upsample = (x: string, cin: number, cout: number, stride: number) =>
    g.op(
      "ConvTranspose",
      [x, w.tensor([cin, cout, 2 * stride], 1 / Math.sqrt(cin * 2)), w.tensor([cout], 0.01)],
      { strides: attr.ints([stride]), pads: attr.ints([stride >> 1, stride - (stride >> 1)]) },
    );
  const leaky = (x: string) => g.op("LeakyRelu", [x], { alpha: attr.float(0.1) });
  const silu = (x: string) => g.op("Mul", [x, g.op("Sigmoid", [x])]);
  /** Residual conv block: conv k3 -> SiLU -> 1x1 expand x2 -> SiLU -> 1x1 back, scaled into the residual. */
  const block = (x: string, width: number) => {
    const y = silu(conv(x, width, width, 3));
    const z = conv(silu(conv(y, width, 2 * width, 1)), 2 * width, width, 1);
    return g.op("Add", [x, g.op("Mul", [z, g.float([0.3], [])])]);
  };
  const normalize = (x: string) =>
    g.op(
      "InstanceNormalization",
      [x, g.float(new Array<number>(C).fill(1)), g.float(new Array<number>(C).fill(0))],
      {
        epsilon: attr.float(1e-5),
      },
    );

  // Token encoder at 25 Hz (prompt + new tokens), conditioned on the speaker.
  const embedded = g.op("Gather", [w.tensor([SPEECH_CODES, C], 1), tokens]);
  let x = g.op("Transpose", [embedded], { perm: attr.ints([0, 2, 1]) });
  const speakerBias = unsqueeze(
    g,
    g.op("MatMul", [speaker, w.tensor([SPEAKER_EMBEDDING_SIZE, C], 0.1)]),
    [2],
  );
  x = g.op("Add", [x, speakerBias]);
  for (let i = 0; i < blocks; i++) x = block(x, C);
  // x2 to the 50 Hz mel rate.
  x = normalize(upsample(x, C, C, 2));
  for (let i = 0; i < Math.max(1, blocks >> 1); i++) x = block(x, C);
  const mu = conv(x, C, MEL_BINS, 1);
  const promptMel = unsqueeze(
    g,
    g.op("ReduceMean", [features], { axes: attr.ints([1]), keepdims: attr.int(0) }),
    [2],
  );

  // Flow-matching-like estimator: Euler steps over a conv stack (weights shared by every step).
  const steps = DECODER_STEPS[c.variant];
  const estimatorIn = w.tensor([C, 3 * MEL_BINS, 3], 1 / Math.sqrt(3 * MEL_BINS * 3));
  const estimatorOut = w.tensor([MEL_BINS, C, 1], 0.1 / Math.sqrt(C));
  const estimatorBlocks = Array.from({ length: blocks }, () => ({
    k3: w.tensor([C, C, 3], 1 / Math.sqrt(C * 3)),
    up: w.tensor([2 * C, C, 1], 1 / Math.sqrt(C)),
    down: w.tensor([C, 2 * C, 1], 1 / Math.sqrt(2 * C)),
  }));
  let mel = g.op("Mul", [mu, g.float([0.5], [])]);
  for (let step = 0; step < steps; step++) {
    const input = g.op("Concat", [mel, mu, g.op("Add", [g.op("Mul", [mu, g.float([0], [])]), promptMel])], {
      axis: attr.int(1),
    });
    let h = g.op("Conv", [input, estimatorIn], { pads: attr.ints([1, 1]) });
    for (const b of estimatorBlocks) {
      const y = silu(g.op("Conv", [h, b.k3], { pads: attr.ints([1, 1]) }));
      const z = g.op("Conv", [silu(g.op("Conv", [y, b.up])), b.down]);
      h = g.op("Add", [h, g.op("Mul", [z, g.float([0.3], [])])]);
    }
    const velocity = g.op("Tanh", [g.op("Conv", [h, estimatorOut])]);
    mel = g.op("Add", [mel, g.op("Mul", [velocity, g.float([1 / steps], [])])]);
  }

  // The prompt's frames are cut here, before the vocoder, as the published flow cuts its output
  // (feat[:, :, prompt_frames:]): the vocoder only renders the new tokens.
  const generatedMel = g.op("Slice", [
    mel,
    dimOf(g, features, 1),
    g.int64([Number.MAX_SAFE_INTEGER]),
    g.int64([2]),
  ]);

  // HiFi-GAN-like vocoder: conv, then upsample x8 x5 x3 with residual dilated conv stacks, then x4 to samples.
  let width = C;
  let y = conv(generatedMel, MEL_BINS, width, 7);
  for (const stride of VOCODER_STRIDES) {
    const next = Math.max(32, width >> 1);
    y = upsample(leaky(y), width, next, stride);
    width = next;
    for (const dilation of [1, 3, 5]) {
      y = g.op("Add", [
        y,
        g.op("Mul", [
          conv(leaky(conv(leaky(y), width, width, 3, dilation)), width, width, 3),
          g.float([0.3], []),
        ]),
      ]);
    }
  }
  const samples = g.op(
    "ConvTranspose",
    [leaky(y), w.tensor([width, 1, VOCODER_FINAL_STRIDE], 1 / Math.sqrt(width))],
    {
      strides: attr.ints([VOCODER_FINAL_STRIDE]),
    },
  );
  const audio = g.op("Mul", [g.op("Tanh", [samples]), g.float([0.3], [])]);
  const waveform = g.op("Reshape", [
    audio,
    g.op("Concat", [dimOf(g, tokens, 0), g.int64([-1])], { axis: attr.int(0) }),
  ]);
  g.output("waveform", waveform, "float32", ["batch_size", "num_samples"]);
  return g;
}

// ---------------------------------------------------------------------------------------------------------------
// embed_tokens

/**
 * The tiny embed_tokens logic (which positions are text, speech, emotion) over full-size tables: fp32 Gather, or
 * with q4 a com.microsoft GatherBlockQuantized (uint8 packed 4-bit rows, block 32, float scales, uint8 zero
 * points), as the published q4 export. Channel 0 (the stop-control marker) is set afterwards: 1 on speech
 * positions, 0 elsewhere, so it is exact whatever the tables hold.
 */
export function standinEmbedTokens(c: ResolvedStandin): GraphBuilder {
  const g = new GraphBuilder("embed_tokens");
  const w = new LazyWeights(g, stageSeed(c.seed, "embed_tokens"), "fp32");
  const H = c.hidden;
  const vocab = LOGITS_VOCAB[c.variant];
  const ids = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const table = (rows: number, std: number) => {
    if (c.dtype === "fp32" || H % Q4_BLOCK_SIZE !== 0) {
      const t = w.tensor([rows, H], std);
      return (indices: string) => g.op("Gather", [t, indices]);
    }
    const blocks = H / Q4_BLOCK_SIZE;
    const seed = mix(stageSeed(c.seed, "embed_tokens"), rows);
    const data = g.lazyWeight("uint8", [rows, H / 2], (rows * H) / 2, () =>
      randomBytes((rows * H) / 2, seed),
    );
    const scales = g.lazyWeight("float32", [rows, blocks], rows * blocks * 4, () =>
      asBytes(new Float32Array(rows * blocks).fill(std / 4.6)),
    );
    const zpWidth = Math.ceil(blocks / 2);
    const zeroPoints = g.lazyWeight("uint8", [rows, zpWidth], rows * zpWidth, () =>
      new Uint8Array(rows * zpWidth).fill(0x88),
    );
    return (indices: string) =>
      g.domainOp(MS_DOMAIN, 1, "GatherBlockQuantized", [data, indices, scales, zeroPoints], {
        gather_axis: attr.int(0),
        quantize_axis: attr.int(1),
        block_size: attr.int(Q4_BLOCK_SIZE),
        bits: attr.int(4),
      });
  };
  const length = scalarDimOf(g, ids, 1);
  const single = g.op("Equal", [length, g.scalar(1)]);
  const positions = g.op("Range", [g.scalar(0), length, g.scalar(1)]);
  const clip = (x: string, max: number) => g.op("Clip", [x, g.scalar(0), g.scalar(max)]);
  const text = table(c.textVocab, 1);
  const speech = table(vocab, 1);
  const onehot = new Array<number>(H).fill(0);
  onehot[0] = 1;
  /** Channel 0 := isSpeech (bool [B|1, S, 1]). */
  const withMarker = (embeds: string, isSpeech: string) =>
    g.op("Add", [
      g.op("Mul", [embeds, g.float(onehot.map((v) => 1 - v))]),
      g.op("Mul", [g.op("Cast", [isSpeech], { to: attr.int(1) }), g.float(onehot)]),
    ]);

  if (c.variant === "turbo") {
    const lastTwo = g.op("GreaterOrEqual", [positions, g.op("Sub", [length, g.scalar(2)])]);
    const isSpeech = unsqueeze(g, g.op("Or", [lastTwo, single]), [0, 2]);
    const speechIds = clip(g.op("Where", [single, ids, g.scalar(START_SPEECH)]), vocab - 1);
    const embeds = g.op("Where", [isSpeech, speech(speechIds), text(clip(ids, c.textVocab - 1))]);
    g.output("inputs_embeds", withMarker(embeds, isSpeech), "float32", ["batch_size", "sequence_length", H]);
    return g;
  }

  const positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
  const exaggeration = g.input("exaggeration", "float32", ["batch_size"]);
  const zeros = g.op("Cast", [g.op("Equal", [ids, g.scalar(0)])], { to: attr.int(1) });
  const firstZero = g.op("ArgMax", [zeros], { axis: attr.int(1), keepdims: attr.int(1) });
  const isText = g.op("And", [
    g.op("LessOrEqual", [unsqueeze(g, positions, [0]), firstZero]),
    g.op("Not", [single]),
  ]);
  const isEmotion = g.op("Equal", [ids, g.scalar(ENGLISH_EMOTION_TOKEN)]);
  const speechPositions = w.tensor([MAX_POSITIONS, H], 0.3);
  const speechEmbeds = g.op("Add", [
    speech(clip(ids, vocab - 1)),
    g.op("Gather", [speechPositions, clip(positionIds, MAX_POSITIONS - 1)]),
  ]);
  const emotion = g.op("Mul", [unsqueeze(g, exaggeration, [1, 2]), w.tensor([H], 1)]);
  // Text rows are token + learned text position, as in the export (a plain fp32 table, whatever the dtype).
  const textPositions = w.tensor([TINY_TEXT_POSITIONS, H], 0.3);
  const textEmbeds = g.op("Add", [
    text(clip(ids, c.textVocab - 1)),
    g.op("Gather", [textPositions, clip(positionIds, TINY_TEXT_POSITIONS - 1)]),
  ]);
  const embeds = g.op("Where", [
    unsqueeze(g, isEmotion, [2]),
    emotion,
    g.op("Where", [unsqueeze(g, isText, [2]), textEmbeds, speechEmbeds]),
  ]);
  const isSpeech = unsqueeze(g, g.op("Not", [g.op("Or", [isText, isEmotion])]), [2]);
  g.output("inputs_embeds", withMarker(embeds, isSpeech), "float32", ["batch_size", "sequence_length", H]);
  return g;
}

// ---------------------------------------------------------------------------------------------------------------
// speech_encoder

/**
 * The tiny speech encoder (same outputs and length rules) plus a conv trunk over its mel frames, sized like the
 * published encoder: `encoderBlocks` residual blocks of width `decoderWidth` feed speaker_features.
 */
export function standinSpeechEncoder(c: ResolvedStandin): GraphBuilder {
  const trunk = (g: GraphBuilder, mel: string) => {
    const w = new LazyWeights(g, stageSeed(c.seed + 2, "speech_encoder"), "fp32");
    const C = c.decoderWidth;
    const conv = (x: string, cin: number, cout: number, kernel: number) =>
      g.op("Conv", [x, w.tensor([cout, cin, kernel], 1 / Math.sqrt(cin * kernel))], {
        pads: attr.ints([(kernel - 1) >> 1, (kernel - 1) >> 1]),
      });
    const silu = (x: string) => g.op("Mul", [x, g.op("Sigmoid", [x])]);
    let x = conv(g.op("Transpose", [mel], { perm: attr.ints([0, 2, 1]) }), MEL_BINS, C, 3);
    for (let i = 0; i < c.encoderBlocks; i++) {
      const y = silu(conv(x, C, C, 3));
      const z = conv(silu(conv(y, C, 2 * C, 1)), 2 * C, C, 1);
      x = g.op("Add", [x, g.op("Mul", [z, g.float([0.3], [])])]);
    }
    const out = g.op("Transpose", [conv(x, C, MEL_BINS, 1)], { perm: attr.ints([0, 2, 1]) });
    return g.op("Add", [mel, g.op("Mul", [g.op("Tanh", [out]), g.float([0.1], [])])]);
  };
  return speechEncoder(tinyConfig(c), new Weights(stageSeed(c.seed, "speech_encoder")), trunk);
}

// ---------------------------------------------------------------------------------------------------------------
// Bundle

function tinyConfig(c: ResolvedStandin): TinyModelConfig {
  return {
    variant: c.variant,
    hidden: c.hidden,
    heads: c.heads,
    layers: c.layers,
    kvDtype: "float32",
    stopAfter: c.tokens,
    textVocab: c.textVocab,
    seed: c.seed,
  };
}

/** The graph of one stage (weights not yet generated: they are produced by `writeStreaming`). */
export function buildStandinGraph(stage: Stage, c: ResolvedStandin): GraphBuilder {
  switch (stage) {
    case "speech_encoder":
      return standinSpeechEncoder(c);
    case "embed_tokens":
      return standinEmbedTokens(c);
    case "language_model":
      return standinLanguageModel(c);
    case "conditional_decoder":
      return standinDecoder(c);
  }
}

export interface StandinFile {
  path: string;
  bytes: number;
}

export interface StandinBundle {
  dir: string;
  config: ResolvedStandin;
  files: StandinFile[];
  /** Wall time per stage (graph build + weight generation + writing). */
  stageMs: Record<Stage, number>;
}

/**
 * Writes a stand-in bundle laid out like the published repositories: onnx/{stage}{suffix}.onnx + .onnx_data
 * (suffix "" for fp32, "_q4" for q4). Turbo q4 has every stage under "_q4" (LM MatMuls as MatMulNBits, embedding
 * tables as GatherBlockQuantized, encoder and decoder convolutions fp32); English q4 has only language_model_q4
 * and fp32 files for the rest, as published. Also tokenizer.json (the tiny tokenizers), default_voice.wav and
 * standin.json (the resolved options).
 */
export async function makeStandinBundle(dir: string, options: StandinOptions): Promise<StandinBundle> {
  const config = resolveStandin(options);
  const suffix = DTYPE_SUFFIX[config.dtype];
  await mkdir(path.join(dir, "onnx"), { recursive: true });
  const files: StandinFile[] = [];
  const stageMs = {} as Record<Stage, number>;
  for (const stage of STAGES) {
    const started = performance.now();
    // English publishes only its LM quantized (the engine falls back to the fp32 files for the rest).
    const fp32Only = config.variant === "english" && stage !== "language_model";
    const stageSuffix = fp32Only ? "" : suffix;
    const graphFile = `onnx/${stage}${stageSuffix}.onnx`;
    const sidecar = `${stage}${stageSuffix}.onnx_data`;
    const stageConfig: ResolvedStandin = fp32Only ? { ...config, dtype: "fp32" } : config;
    buildStandinGraph(stage, stageConfig).writeStreaming(path.join(dir, graphFile), sidecar);
    stageMs[stage] = performance.now() - started;
    for (const file of [graphFile, `onnx/${sidecar}`]) {
      files.push({ path: file, bytes: (await stat(path.join(dir, file))).size });
    }
  }
  const tokenizer = config.variant === "turbo" ? turboTokenizer() : englishTokenizer();
  await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer.json));
  await writeFile(path.join(dir, "default_voice.wav"), encodeWav(syntheticVoice(config.seed), SAMPLE_RATE));
  await writeFile(path.join(dir, "standin.json"), JSON.stringify({ standIn: true, ...config }, null, 2));
  for (const file of ["tokenizer.json", "default_voice.wav", "standin.json"]) {
    files.push({ path: file, bytes: (await stat(path.join(dir, file))).size });
  }
  return { dir, config, files, stageMs };
}
