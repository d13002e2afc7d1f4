/**
 * Small tokenizer.json files with the real tokenizers' shapes: Turbo's GPT-2 byte-level BPE (two trailing
 * <|endoftext|> ids, paralinguistic tags as single tokens) and English's character BPE ([SPACE], [START]=255,
 * [STOP]=0, 704 ids). Small vocabularies keep the embedding tables tiny.
 */
import { TURBO_TAGS } from "@tts/api";

import { ENGLISH_START_TEXT, ENGLISH_STOP_TEXT, ENGLISH_TEXT_VOCAB } from "../engine/contract";

export { ENGLISH_TEXT_VOCAB };

/** GPT-2's byte -> printable character table, as the ByteLevel pre-tokenizer expects it in the vocab. */
function bytesToUnicode(): string[] {
  const printable = new Set<number>();
  for (const [from, to] of [
    [33, 126],
    [161, 172],
    [174, 255],
  ] as const) {
    for (let b = from; b <= to; b++) printable.add(b);
  }
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable.has(b) ? b : 256 + extra++));
}

/** An `added_tokens` entry: matched whole in the input, before the model's own splitting. */
function addedToken(content: string, id: number, special: boolean) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

const TURBO_MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "Ġ w"];

export function turboTokenizer(): { json: object; vocabSize: number } {
  const vocab: Record<string, number> = {};
  for (const char of bytesToUnicode()) vocab[char] = Object.keys(vocab).length;
  for (const merge of TURBO_MERGES) vocab[merge.replace(" ", "")] = Object.keys(vocab).length;
  const eos = Object.keys(vocab).length;
  vocab["<|endoftext|>"] = eos;
  const tags = TURBO_TAGS.map((content, i) => ({ content, id: eos + 1 + i }));
  for (const tag of tags) vocab[tag.content] = tag.id;
  const eosToken = { SpecialToken: { id: "<|endoftext|>", type_id: 0 } };
  return {
    vocabSize: eos + 1 + tags.length,
    json: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [
        addedToken("<|endoftext|>", eos, true),
        ...tags.map((t) => addedToken(t.content, t.id, false)),
      ],
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: {
        type: "TemplateProcessing",
        single: [{ Sequence: { id: "A", type_id: 0 } }, eosToken, eosToken],
        pair: [
          { Sequence: { id: "A", type_id: 0 } },
          { Sequence: { id: "B", type_id: 1 } },
          eosToken,
          eosToken,
        ],
        special_tokens: { "<|endoftext|>": { id: "<|endoftext|>", ids: [eos], tokens: ["<|endoftext|>"] } },
      },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        vocab,
        merges: TURBO_MERGES,
      },
    },
  };
}

export function englishTokenizer(): { json: object; vocabSize: number } {
  const vocab: Record<string, number> = { "[STOP]": ENGLISH_STOP_TEXT, "[UNK]": 1, "[SPACE]": 2 };
  const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";
  for (const char of chars) vocab[char] = Object.keys(vocab).length;
  vocab["[START]"] = ENGLISH_START_TEXT;
  const special = (content: string, id: number) => addedToken(content, id, true);
  return {
    vocabSize: ENGLISH_TEXT_VOCAB,
    json: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [
        special("[STOP]", ENGLISH_STOP_TEXT),
        special("[UNK]", 1),
        special("[SPACE]", 2),
        special("[START]", ENGLISH_START_TEXT),
      ],
      normalizer: null,
      pre_tokenizer: { type: "Whitespace" },
      post_processor: null,
      decoder: null,
      model: {
        type: "BPE",
        dropout: null,
        unk_token: "[UNK]",
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        vocab,
        merges: [],
      },
    },
  };
}
