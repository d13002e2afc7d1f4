import type { Variant } from "@tts/api";

/**
 * Upstream Chatterbox `punc_norm`: rewrites punctuation the models rarely saw in training (LLM-style ellipses,
 * colons, dashes, curly quotes) into what they did, and makes sure the text ends like a sentence.
 */

const EMPTY_TEXT_FALLBACK = "You need to add some text for me to talk.";

const QUOTES: ReadonlyArray<readonly [string, string]> = [
  ["\u201c", '"'],
  ["\u201d", '"'],
  ["\u2018", "'"],
  ["\u2019", "'"],
];

/**
 * Applied in order, after whitespace is collapsed, exactly as upstream does: so "a… b" keeps upstream's double
 * space ("a,  b"), which is what the models were fed. English maps `...` before `…`, and ` - ` before the
 * dashes, so a spaced em dash stays a dash.
 */
const REPLACEMENTS: Record<Variant, ReadonlyArray<readonly [string, string]>> = {
  turbo: [["\u2026", ", "], [":", ","], ["\u2014", "-"], ["\u2013", "-"], [" ,", ","], ...QUOTES],
  english: [
    ["...", ", "],
    ["\u2026", ", "],
    [":", ","],
    [" - ", ", "],
    [";", ", "],
    ["\u2014", "-"],
    ["\u2013", "-"],
    [" ,", ","],
    ...QUOTES,
  ],
};

const SENTENCE_ENDERS = [".", "!", "?", "-", ","];

export function normalizeText(text: string, variant: Variant): string {
  let out = text.replace(/\s+/g, " ").trim();
  if (out === "") return EMPTY_TEXT_FALLBACK;
  // Only a leading lowercase letter: a leading tag like "[laugh]" or a digit is left as written.
  out = out.replace(/^\p{Ll}/u, (letter) => letter.toUpperCase());
  for (const [from, to] of REPLACEMENTS[variant]) out = out.replaceAll(from, to);
  // Replacements like "..." -> ", " can leave double spaces that upstream keeps; they only waste tokens.
  out = out.replace(/ {2,}/g, " ").trimEnd();
  return SENTENCE_ENDERS.some((ender) => out.endsWith(ender)) ? out : `${out}.`;
}
