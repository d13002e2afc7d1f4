import { describe, expect, it } from "vitest";

import { normalizeText } from "../src/engine/text-normalize";

const FALLBACK = "You need to add some text for me to talk.";

type Case = [rule: string, input: string, expected: string];

/** Rules both variants share. */
const COMMON: Case[] = [
  ["empty text gets the default sentence", "", FALLBACK],
  ["whitespace-only text gets the default sentence", " \n\t  ", FALLBACK],
  ["capitalizes the first letter and adds a full stop", "hello world", "Hello world."],
  ["capitalizes a non-ASCII first letter", "éclair time", "Éclair time."],
  ["leaves a leading digit alone", "3 apples", "3 apples."],
  ["collapses spaces, newlines and tabs, and trims", "  hello \n\n world\tagain  ", "Hello world again."],
  ["keeps a final full stop", "Done.", "Done."],
  ["keeps a final exclamation mark", "Stop!", "Stop!"],
  ["keeps a final question mark", "Really?", "Really?"],
  ["keeps a final dash", "Wait -", "Wait -"],
  ["keeps a final comma", "Well,", "Well,"],
  ["turns a colon into a comma", "Note: this", "Note, this."],
  ["drops the space before a comma a colon leaves", "Time : now", "Time, now."],
  ["turns an ellipsis character into a comma (upstream keeps the double space)", "Wait… what", "Wait, what."],
  ["a trailing ellipsis character ends on a comma", "Trailing…", "Trailing,"],
  ["turns em and en dashes into hyphens", "a—b–c", "A-b-c."],
  ["straightens curly quotes", "“Hi,” she said ‘ok’", "\"Hi,\" she said 'ok'."],
];

const TURBO: Case[] = [
  ["keeps three dots", "wait...", "Wait..."],
  ["keeps semicolons and spaced hyphens", "one; two - three", "One; two - three."],
  ["keeps a leading paralinguistic tag as written", "[laugh] that was funny", "[laugh] that was funny."],
  ["keeps a trailing tag", "that's it [sigh]", "That's it [sigh]."],
];

const ENGLISH: Case[] = [
  ["turns three dots into a comma", "wait... what", "Wait, what."],
  ["a trailing three dots ends on a comma", "yes...", "Yes,"],
  ["turns a spaced hyphen into a comma", "a - b", "A, b."],
  ["turns a semicolon into a comma", "one;two", "One, two."],
  ["maps spaced hyphens before semicolons", "one; two - three", "One, two, three."],
  ["maps dashes after spaced hyphens, so a spaced em dash stays a hyphen", "a — b", "A - b."],
];

describe("normalizeText", () => {
  describe.each(["turbo", "english"] as const)("%s (shared rules)", (variant) => {
    it.each(COMMON)("%s", (_rule, input, expected) => {
      expect(normalizeText(input, variant)).toBe(expected);
    });
  });

  describe("turbo", () => {
    it.each(TURBO)("%s", (_rule, input, expected) => {
      expect(normalizeText(input, "turbo")).toBe(expected);
    });
  });

  describe("english", () => {
    it.each(ENGLISH)("%s", (_rule, input, expected) => {
      expect(normalizeText(input, "english")).toBe(expected);
    });
  });
});
