/**
 * The Chatterbox ONNX graph contract (docs/model-contract.md): token ids, rates, and the exact input and output
 * names and element types of each graph, per variant. The engine and the tiny-random generator both build on
 * this one description.
 */
import type { Dtype, Variant } from "@tts/api";

export const STAGES = ["speech_encoder", "embed_tokens", "language_model", "conditional_decoder"] as const;
export type Stage = (typeof STAGES)[number];

/** File-name suffix of each published dtype (q8 is `_quantized`, not `_q8`). */
export const DTYPE_SUFFIX = {
  fp32: "",
  fp16: "_fp16",
  q8: "_quantized",
  q4: "_q4",
  q4f16: "_q4f16",
} as const satisfies Record<Dtype, string>;

export const SAMPLE_RATE = 24_000;
/** Each speech token decodes to 40 ms of audio. */
export const SAMPLES_PER_TOKEN = 960;
export const START_SPEECH = 6561;
export const STOP_SPEECH = 6562;
/** Speech ids below this are real codes; the decoder only accepts those. */
export const SPEECH_CODES = 6561;
/** Turbo appends three of these so the last word is not clipped. */
export const TURBO_SILENCE_TOKEN = 4299;
export const TURBO_SILENCE_COUNT = 3;
export const ENGLISH_EMOTION_TOKEN = 6563;
export const ENGLISH_START_TEXT = 255;
export const ENGLISH_STOP_TEXT = 0;
/** English text tokens (upstream `text_tokens_dict_size`): the rows of embed_tokens' text-token table. */
export const ENGLISH_TEXT_VOCAB = 704;
export const SPEAKER_EMBEDDING_SIZE = 192;
export const MEL_BINS = 80;

export const LOGITS_VOCAB: Record<Variant, number> = { turbo: 6563, english: 8194 };

export type ElementType = "float32" | "float16" | "int64";

export interface PortSpec {
  name: string;
  /** Allowed element types (KV caches may be float32 or float16). */
  types: readonly ElementType[];
}

const KV: readonly ElementType[] = ["float32", "float16"];

/** Inputs and outputs each stage must have. KV-cache ports are matched by pattern, per layer. */
export interface StageContract {
  inputs: readonly PortSpec[];
  outputs: readonly PortSpec[];
  kvCache?: true;
}

const f32 = (name: string): PortSpec => ({ name, types: ["float32"] });
const i64 = (name: string): PortSpec => ({ name, types: ["int64"] });

const speechEncoder: StageContract = {
  inputs: [f32("audio_values")],
  outputs: [f32("audio_features"), i64("audio_tokens"), f32("speaker_embeddings"), f32("speaker_features")],
};

const conditionalDecoder: StageContract = {
  inputs: [i64("speech_tokens"), f32("speaker_embeddings"), f32("speaker_features")],
  outputs: [f32("waveform")],
};

export const CONTRACTS: Record<Variant, Record<Stage, StageContract>> = {
  turbo: {
    speech_encoder: speechEncoder,
    embed_tokens: { inputs: [i64("input_ids")], outputs: [f32("inputs_embeds")] },
    language_model: {
      inputs: [f32("inputs_embeds"), i64("attention_mask"), i64("position_ids")],
      outputs: [{ name: "logits", types: ["float32", "float16"] }],
      kvCache: true,
    },
    conditional_decoder: conditionalDecoder,
  },
  english: {
    speech_encoder: speechEncoder,
    embed_tokens: {
      inputs: [i64("input_ids"), i64("position_ids"), f32("exaggeration")],
      outputs: [f32("inputs_embeds")],
    },
    language_model: {
      inputs: [f32("inputs_embeds"), i64("attention_mask")],
      outputs: [{ name: "logits", types: ["float32", "float16"] }],
      kvCache: true,
    },
    conditional_decoder: conditionalDecoder,
  },
};

export const KV_TYPES = KV;
export const pastKey = (layer: number) => `past_key_values.${layer}.key`;
export const pastValue = (layer: number) => `past_key_values.${layer}.value`;
export const presentKey = (layer: number) => `present.${layer}.key`;
export const presentValue = (layer: number) => `present.${layer}.value`;
/** `past_key_values.N.key` -> `present.N.key`: outputs are mapped to inputs by name, never by position. */
export const presentFor = (pastName: string) => pastName.replace(/^past_key_values\./, "present.");
