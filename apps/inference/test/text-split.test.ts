import { describe, expect, it } from "vitest";

import { createRng, type Rng } from "../src/engine/rng";
import { splitText, type SplitOptions, type TextChunk } from "../src/engine/text-split";

const texts = (chunks: TextChunk[]): string[] => chunks.map((chunk) => chunk.text);
const pauses = (chunks: TextChunk[]): number[] => chunks.map((chunk) => chunk.pauseAfterMs);
const compact = (text: string): string => text.replace(/\s+/g, "");
const words = (text: string): string => text.split(/\s+/).filter(Boolean).join(" ");

type Case = [rule: string, input: string, expected: string[]];

/** Sentence detection, with merging off (minChars 0) so that every boundary shows. */
const SENTENCES: Case[] = [
  [
    "titles are not sentence ends",
    "Mr. Smith met Dr. Jones at St. Mary's. They talked.",
    ["Mr. Smith met Dr. Jones at St. Mary's.", "They talked."],
  ],
  [
    "Prof. vs. Mrs. etc. are not sentence ends",
    "Prof. Lee vs. Mrs. Park, etc. were there. Then it ended.",
    ["Prof. Lee vs. Mrs. Park, etc. were there.", "Then it ended."],
  ],
  [
    "p.m. Jan. e.g. are not sentence ends",
    "We met at 3 p.m. on Jan. 5, e.g. a Monday. It rained.",
    ["We met at 3 p.m. on Jan. 5, e.g. a Monday.", "It rained."],
  ],
  [
    "initials before a name",
    "J. R. R. Tolkien wrote it. Read it.",
    ["J. R. R. Tolkien wrote it.", "Read it."],
  ],
  [
    "U.S. before a capital",
    "The U.S. Army won. Then peace came.",
    ["The U.S. Army won.", "Then peace came."],
  ],
  ["i.e. before a capital", "One city, i.e. Paris, won. Fine.", ["One city, i.e. Paris, won.", "Fine."]],
  ["No. before a number", "Call No. 5 now. See p. 12 too.", ["Call No. 5 now.", "See p. 12 too."]],
  ["no. before a word is a word", "I said no. Then I left.", ["I said no.", "Then I left."]],
  [
    "an unknown abbreviation before lowercase",
    "The dept. store opened. OK.",
    ["The dept. store opened.", "OK."],
  ],
  ["decimals", "Pi is 3.14 and half is .5 today. Nice.", ["Pi is 3.14 and half is .5 today.", "Nice."]],
  ["currency", "It costs $4.99 or €1.000,50 now. Buy it.", ["It costs $4.99 or €1.000,50 now.", "Buy it."]],
  ["times", "Meet at 10:30. Or at 3:45 p.m. on Friday.", ["Meet at 10:30.", "Or at 3:45 p.m. on Friday."]],
  [
    "version numbers, mid-sentence and at the end",
    "Install v1.2.3 first. We shipped v1.2.3. Then we rested.",
    ["Install v1.2.3 first.", "We shipped v1.2.3.", "Then we rested."],
  ],
  [
    "numbered list markers inside a line",
    "Steps: 1. Open the app 2. Click save 3. Quit. Done now.",
    ["Steps: 1. Open the app 2. Click save 3. Quit.", "Done now."],
  ],
  [
    "a number ending a sentence is not a list marker",
    "I was born in 1990. Then I grew up. He scored 10. Next.",
    ["I was born in 1990.", "Then I grew up.", "He scored 10.", "Next."],
  ],
  [
    "URLs and emails",
    "Visit example.com or mail a.b@c.de for help. Thanks! Go to https://example.com/a.b?c=1. Then wait.",
    [
      "Visit example.com or mail a.b@c.de for help.",
      "Thanks!",
      "Go to https://example.com/a.b?c=1.",
      "Then wait.",
    ],
  ],
  [
    "a closing quote stays with its sentence",
    'He said "no." Then he left.',
    ['He said "no."', "Then he left."],
  ],
  ["a closing bracket stays with its sentence", "(It was late.) We left.", ["(It was late.)", "We left."]],
  ["a stop after a closing quote", "He said 'no'. Then he left.", ["He said 'no'.", "Then he left."]],
  [
    "a quote attribution continues the sentence",
    '"Stop!" she cried. "Why?" he asked.',
    ['"Stop!" she cried.', '"Why?" he asked.'],
  ],
  [
    "an ellipsis ends a sentence only before a capital",
    "Wait... what? I thought… Then it hit me.",
    ["Wait... what?", "I thought…", "Then it hit me."],
  ],
  [
    "an ellipsis before a number is a pause, not a stop",
    "He counted... 3, 4, 5. Done.",
    ["He counted... 3, 4, 5.", "Done."],
  ],
  ["a spaced ellipsis is not a stop", "Hmm . . . maybe. Yes.", ["Hmm . . . maybe.", "Yes."]],
  ["runs of ! and ?", "Really?! No way!!! Fine.", ["Really?!", "No way!!!", "Fine."]],
  ["no space after the stop", "It ended.OK, fine.", ["It ended.OK, fine."]],
  ["CJK stops need no space", "你好。我很好！谢谢？好的", ["你好。", "我很好！", "谢谢？", "好的"]],
  ["CJK closing brackets stay with the sentence", "「走吧。」他说。", ["「走吧。」", "他说。"]],
  [
    "a single newline is a space",
    "This line\ncontinues here. And\n ends.",
    ["This line continues here.", "And ends."],
  ],
];

describe("splitText: sentence boundaries", () => {
  it.each(SENTENCES)("%s", (_rule, input, expected) => {
    expect(texts(splitText(input, { minChars: 0 }))).toEqual(expected);
  });

  it("returns nothing for empty or whitespace-only text", () => {
    expect(splitText("")).toEqual([]);
    expect(splitText(" \n\n\t \r\n ")).toEqual([]);
  });
});

type LongCase = [rule: string, input: string, options: SplitOptions, expected: string[]];

/** Sentences over maxChars: clause marks first, then spaces, then characters, in pieces of even length. */
const LONG_SENTENCES: LongCase[] = [
  [
    "cuts at commas, semicolons, colons, dashes and parentheses",
    "We waited for the bus—it never came, so we walked home; the rain (which was cold) kept falling: all night long - until dawn.",
    { maxChars: 40, minChars: 10 },
    [
      "We waited for the bus—it never came,",
      "so we walked home; the rain",
      "(which was cold) kept falling:",
      "all night long - until dawn.",
    ],
  ],
  [
    "a spaced en dash is a clause mark, a range is not",
    "We were loud – and in the years from 1990–2000 quiet came.",
    { maxChars: 40, minChars: 10 },
    ["We were loud –", "and in the years from", "1990–2000 quiet came."],
  ],
  [
    "an ellipsis that does not end the sentence is a clause mark",
    "I kept thinking about it for hours... and then I went to bed.",
    { maxChars: 40, minChars: 10 },
    ["I kept thinking about it for hours...", "and then I went to bed."],
  ],
  [
    "a clause mark that would leave a tiny piece loses to a space",
    "Yes, the plan was simple enough for anyone to follow and nobody did.",
    { maxChars: 40, minChars: 10 },
    ["Yes, the plan was simple enough for", "anyone to follow and nobody did."],
  ],
  [
    "CJK commas",
    "我们等了很久，车一直没有来，于是我们走回家了，雨一直在下。",
    { maxChars: 12, minChars: 2 },
    ["我们等了很久，", "车一直没有来，", "于是我们走回家了，", "雨一直在下。"],
  ],
  [
    "before a CJK opening parenthesis",
    "今天天气真的很好（我觉得）我们去公园吧",
    { maxChars: 12, minChars: 2 },
    ["今天天气真的很好", "（我觉得）我们去公园吧"],
  ],
  [
    "after a CJK closing parenthesis, then characters",
    "他说（笑着）今天天气很好所以我们去公园吧",
    { maxChars: 10, minChars: 2 },
    ["他说（笑着）", "今天天气很好所", "以我们去公园吧"],
  ],
  [
    "words when there is no punctuation",
    "no punctuation at all just many words in a row here and more",
    { maxChars: 20, minChars: 5 },
    ["no punctuation at", "all just many", "words in a row", "here and more"],
  ],
  [
    "characters inside a long run without spaces, in even pieces",
    `see https://example.com/${"a".repeat(80)} ok`,
    { maxChars: 30 },
    [`see https://example.com/aaa`, "a".repeat(27), "a".repeat(27), `${"a".repeat(23)} ok`],
  ],
];

describe("splitText: oversize sentences", () => {
  it.each(LONG_SENTENCES)("%s", (_rule, input, options, expected) => {
    expect(texts(splitText(input, options))).toEqual(expected);
  });

  it("cuts a 2,000-character sentence only at its commas, in pieces of similar length", () => {
    const sentence = `${Array.from({ length: 70 }, (_, i) => `clause number ${i} runs on a bit`).join(", ")}.`;
    expect(sentence.length).toBeGreaterThan(2000);
    const chunks = splitText(sentence);
    expect(chunks).toHaveLength(Math.ceil(sentence.length / 300));
    expect(
      texts(chunks)
        .slice(0, -1)
        .every((text) => text.endsWith(",")),
    ).toBe(true);
    expect(chunks.every(({ text }) => text.length <= 300 && text.length >= 240)).toBe(true);
    expect(texts(chunks).join(" ")).toBe(sentence);
    expect(pauses(chunks)).toEqual([...Array<number>(chunks.length - 1).fill(120), 0]);
  });

  it("cuts a 2,000-character sentence without punctuation at spaces, into the fewest pieces", () => {
    const sentence = Array.from(
      { length: 400 },
      (_, i) => ["alpha", "be", "gamma", "delta", "epsilonic"][i % 5],
    ).join(" ");
    const chunks = splitText(sentence);
    expect(chunks).toHaveLength(Math.ceil(sentence.length / 300));
    expect(chunks.every(({ text }) => text.length <= 300 && text.length >= 250)).toBe(true);
    expect(texts(chunks).join(" ")).toBe(sentence);
  });

  it("cuts 1,000,000 characters without spaces into full pieces", () => {
    const run = "x".repeat(1_000_000);
    const chunks = splitText(run);
    expect(chunks).toHaveLength(Math.ceil(run.length / 300));
    expect(chunks.every(({ text }) => text.length <= 300)).toBe(true);
    expect(texts(chunks).join("")).toBe(run);
  });

  it("never cuts inside an emoji sequence or before a combining mark", () => {
    const emoji = splitText("👍🏽".repeat(100), { maxChars: 30 });
    expect(emoji.every(({ text }) => /^(?:👍🏽)+$/u.test(text) && text.length <= 30)).toBe(true);
    const accents = splitText("e\u0301".repeat(100), { maxChars: 25 });
    expect(accents.every(({ text }) => /^(?:e\u0301)+$/u.test(text) && text.length <= 25)).toBe(true);
  });
});

describe("splitText: pauses", () => {
  const first = "The first sentence is long enough to be spoken on its own, we hope.";
  const second = "The second sentence is also long enough to stand alone here, we hope.";

  it("pauses longest after a paragraph, then a sentence, then a clause, and not after the last chunk", () => {
    const long = "This sentence is far too long for one chunk, so it is cut at its comma.";
    const chunks = splitText(`${first} ${second}\n\n${long}`, { maxChars: 70, minChars: 0 });
    expect(chunks).toEqual([
      { text: first, pauseAfterMs: 250 },
      { text: second, pauseAfterMs: 500 },
      { text: "This sentence is far too long for one chunk,", pauseAfterMs: 120 },
      { text: "so it is cut at its comma.", pauseAfterMs: 0 },
    ]);
  });

  it("takes custom pauses", () => {
    const chunks = splitText(`${first}\n\n${second} ${first}`, { pauses: { paragraph: 900, sentence: 300 } });
    expect(pauses(chunks)).toEqual([900, 300, 0]);
  });

  it("ends a block at each list line, and a paragraph at a blank line", () => {
    const input =
      "Shopping:\n- eggs\n* milk\n2) bread\n3. jam\nThat is all.\nReally\nall.\n\n\n  \nNext part.";
    const chunks = splitText(input, { minChars: 0 });
    expect(chunks).toEqual([
      { text: "Shopping:", pauseAfterMs: 250 },
      { text: "- eggs", pauseAfterMs: 250 },
      { text: "* milk", pauseAfterMs: 250 },
      { text: "2) bread", pauseAfterMs: 250 },
      { text: "3. jam", pauseAfterMs: 250 },
      { text: "That is all.", pauseAfterMs: 250 },
      { text: "Really all.", pauseAfterMs: 500 },
      { text: "Next part.", pauseAfterMs: 0 },
    ]);
  });
});

describe("splitText: merging tiny sentences", () => {
  const sentence70 = "This sentence is about seventy characters long, give or take a word.";

  it("merges tiny sentences into one context", () => {
    expect(splitText("Hi. I'm Ann. Nice to meet you.")).toEqual([
      { text: "Hi. I'm Ann. Nice to meet you.", pauseAfterMs: 0 },
    ]);
  });

  it("stops merging once a chunk reaches minChars", () => {
    const input = `Hi. I'm Ann. ${sentence70} ${sentence70}`;
    expect(texts(splitText(input))).toEqual([`Hi. I'm Ann. ${sentence70}`, sentence70]);
  });

  it("merges a tiny last sentence into the one before", () => {
    expect(texts(splitText(`${sentence70} Bye.`))).toEqual([`${sentence70} Bye.`]);
  });

  it("keeps a tiny sentence alone when merging would pass maxChars", () => {
    const long = `Words ${"word ".repeat(58)}end.`;
    expect(texts(splitText(`Hi. ${long}`))).toEqual(["Hi.", long]);
  });

  it("does not merge across paragraphs or list lines", () => {
    expect(splitText("Hi.\n\nBye.")).toEqual([
      { text: "Hi.", pauseAfterMs: 500 },
      { text: "Bye.", pauseAfterMs: 0 },
    ]);
    expect(texts(splitText("- one\n- two"))).toEqual(["- one", "- two"]);
  });
});

describe("splitText: options", () => {
  it.each<[string, SplitOptions]>([
    ["maxChars 0", { maxChars: 0 }],
    ["maxChars 1.5", { maxChars: 1.5 }],
    ["maxChars NaN", { maxChars: Number.NaN }],
    ["minChars -1", { minChars: -1 }],
    ["a negative pause", { pauses: { sentence: -1 } }],
    ["a NaN pause", { pauses: { clause: Number.NaN } }],
  ])("rejects %s", (_name, options) => {
    expect(() => splitText("Hello.", options)).toThrow(RangeError);
  });
});

/** Tokens whose every cut falls on a space, so the chunks keep the input's words. */
const SAFE_TOKENS = [
  "the a cat sat on mat and then it rained Then She I word, clause; note: end. End. Stop! Really?! why? Hi!",
  "Mr. Dr. e.g. U.S. J. etc. No. 5 3.14 .5 $4.99 €1.000,50 10:30 p.m. v1.2.3 example.com a.b@c.de 1. 2)",
  '- — – ... … Wait... "no." (aside) 你好。 谢谢， 「走吧。」 👍🏽 café',
].flatMap((line) => line.split(" "));
/** Tokens that force cuts off spaces: long runs, em dashes and CJK stops inside a word. */
const UNSAFE_TOKENS = ["a—b", "你好。谢谢", "他（笑）说", "e\u0301\u0301", "😀\u200d😀"];
const SEPARATORS = [" ", " ", " ", " ", " ", "\n", "\n\n", "\n- ", "\n1. ", " \t\n \n "];

const integer = (rng: Rng, min: number, max: number): number =>
  min + Math.floor(rng.next() * (max - min + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[integer(rng, 0, items.length - 1)] as T;

function randomText(rng: Rng, length: number, withUnsafe: boolean): string {
  let text = "";
  while (text.length < length) {
    const roll = rng.next();
    if (withUnsafe && roll < 0.02) text += pick(rng, ["x", "你", "👍🏽"]).repeat(integer(rng, 1, 700));
    else if (withUnsafe && roll < 0.06) text += pick(rng, UNSAFE_TOKENS);
    else text += pick(rng, SAFE_TOKENS);
    text += pick(rng, SEPARATORS);
  }
  return text;
}

/** Runs of non-blank lines, counted independently of the splitter. */
const paragraphCount = (text: string): number => {
  const blank = text.split(/\r\n?|\n/).map((line) => line.trim() === "");
  return blank.filter((isBlank, i) => !isBlank && (blank[i - 1] ?? true)).length;
};

const CUSTOM_PAUSES = { paragraph: 3, sentence: 2, clause: 1 };

function expectWellFormed(input: string, chunks: TextChunk[], maxChars: number): void {
  const pauseValues = Object.values(CUSTOM_PAUSES);
  const malformed = chunks.filter(
    ({ text, pauseAfterMs }, i) =>
      text === "" ||
      text.length > maxChars ||
      /^\s|\s$|[^\S ]| {2}/.test(text) ||
      (i < chunks.length - 1 && !pauseValues.includes(pauseAfterMs)),
  );
  expect(malformed).toEqual([]);
  expect(chunks.at(-1)?.pauseAfterMs).toBe(0);
  expect(compact(texts(chunks).join(""))).toBe(compact(input));
  expect(chunks.filter((chunk) => chunk.pauseAfterMs === CUSTOM_PAUSES.paragraph)).toHaveLength(
    paragraphCount(input) - 1,
  );
}

describe("splitText: properties under seeded fuzzing", () => {
  it("holds the hard cap and loses no text, whatever the input and options", () => {
    const rng = createRng(20_240_611);
    for (let run = 0; run < 300; run++) {
      const input = randomText(rng, integer(rng, 1, 3000), true);
      const maxChars = integer(rng, 1, 400);
      const chunks = splitText(input, { maxChars, minChars: integer(rng, 0, 120), pauses: CUSTOM_PAUSES });
      expectWellFormed(input, chunks, maxChars);
    }
  });

  it("keeps the input's words in order when no word is longer than half of maxChars", () => {
    const rng = createRng(7);
    for (let run = 0; run < 300; run++) {
      const input = randomText(rng, integer(rng, 1, 3000), false);
      const chunks = splitText(input, { maxChars: integer(rng, 24, 400), minChars: integer(rng, 0, 120) });
      expect(texts(chunks).join(" ")).toBe(words(input));
    }
  });

  it("splits 200,000 characters within the cap", () => {
    const input = randomText(createRng(1), 200_000, true);
    const chunks = splitText(input, { pauses: CUSTOM_PAUSES });
    expect(chunks.length).toBeGreaterThan(200_000 / 300);
    expectWellFormed(input, chunks, 300);
  });
});
