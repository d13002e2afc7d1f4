import { readFile } from "node:fs/promises";

import { Tokenizer } from "@huggingface/tokenizers";

import type { Variant } from "@tts/api";

import { ENGLISH_EMOTION_TOKEN, ENGLISH_START_TEXT, ENGLISH_STOP_TEXT, START_SPEECH } from "./contract";

export interface TextTokenizer {
  /** The LM's text input for already-normalized text (the variant's full template). */
  encode(text: string): number[];
}

const TURBO_EOS = "<|endoftext|>";

export async function loadTokenizer(file: string, variant: Variant): Promise<TextTokenizer> {
  const json = JSON.parse(await readFile(file, "utf8")) as object;
  const tokenizer = new Tokenizer(json, {});
  if (variant === "turbo") {
    const eos = tokenizer.token_to_id(TURBO_EOS);
    if (eos === undefined) throw new Error(`Turbo tokenizer.json has no ${TURBO_EOS} token`);
    return {
      // Turbo's embed graph turns the last two positions into speech START: make sure they are the two
      // <|endoftext|> ids whether or not this tokenizer.json's post-processor appends them.
      encode: (text) => {
        const ids = tokenizer.encode(text, { add_special_tokens: true }).ids;
        while (ids.length < 2 || ids[ids.length - 1] !== eos || ids[ids.length - 2] !== eos) ids.push(eos);
        return ids;
      },
    };
  }
  return {
    // English: spaces are the [SPACE] token; template [emotion, start-text, ...text..., stop-text, START, START].
    encode: (text) => {
      const ids = tokenizer.encode(text.replaceAll(" ", "[SPACE]"), { add_special_tokens: false }).ids;
      return [
        ENGLISH_EMOTION_TOKEN,
        ENGLISH_START_TEXT,
        ...ids,
        ENGLISH_STOP_TEXT,
        START_SPEECH,
        START_SPEECH,
      ];
    },
  };
}
