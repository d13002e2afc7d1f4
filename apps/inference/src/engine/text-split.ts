/**
 * Splits text of any length into chunks the speech model can voice in one context (it degrades past ~20 s of
 * speech, ~300 characters), each with the silence to insert after it. Sentences are the unit: tiny ones are
 * merged, oversize ones are cut at clauses, then words, then (only in long runs without spaces) characters.
 * Everything works on index ranges into whitespace-collapsed blocks and every scan moves forward, so time is
 * linear in the input.
 */

export interface TextChunk {
  /** Trimmed, non-empty, whitespace collapsed to single spaces. */
  text: string;
  /** Silence to insert AFTER this chunk, in milliseconds (0 after the last chunk). */
  pauseAfterMs: number;
}

export interface SplitOptions {
  /** Hard cap on characters (UTF-16 code units) per chunk (default 300). No chunk exceeds it, whatever the input. */
  maxChars?: number;
  /** Chunks shorter than this are merged with a neighbouring sentence when the result fits maxChars (default 60). */
  minChars?: number;
  /** Pauses, ms (defaults: paragraph 500, sentence 250, clause 120). */
  pauses?: Partial<Record<Boundary, number>>;
}

/** What ends a chunk; "clause" also covers cuts forced at a space or between characters. */
export type Boundary = "paragraph" | "sentence" | "clause";

interface Settings {
  maxChars: number;
  minChars: number;
  pauses: Record<Boundary, number>;
}

/** A line group spoken as one run: a paragraph, or one line of a list. Text is whitespace-collapsed. */
interface Block {
  text: string;
  after: Boundary;
}

/** [start, end) into a block's text, trimmed, with the boundary that ends it. */
interface Piece {
  start: number;
  end: number;
  after: Boundary;
}

export function splitText(text: string, options: SplitOptions = {}): TextChunk[] {
  const settings = resolveSettings(options);
  const chunks = toBlocks(text).flatMap((block) =>
    chunkBlock(block, settings).map((piece) => ({
      text: block.text.slice(piece.start, piece.end),
      pauseAfterMs: settings.pauses[piece.after],
    })),
  );
  const last = chunks.at(-1);
  if (last) last.pauseAfterMs = 0;
  return chunks;
}

function resolveSettings(options: SplitOptions): Settings {
  const maxChars = options.maxChars ?? 300;
  const minChars = options.minChars ?? 60;
  if (!Number.isSafeInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`maxChars must be a positive integer (got ${maxChars})`);
  }
  if (!Number.isSafeInteger(minChars) || minChars < 0) {
    throw new RangeError(`minChars must be a non-negative integer (got ${minChars})`);
  }
  const pauses: Record<Boundary, number> = {
    paragraph: options.pauses?.paragraph ?? 500,
    sentence: options.pauses?.sentence ?? 250,
    clause: options.pauses?.clause ?? 120,
  };
  for (const [name, ms] of Object.entries(pauses)) {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`pauses.${name} must be a non-negative number (got ${ms})`);
    }
  }
  return { maxChars, minChars, pauses };
}

const LIST_ITEM = /^\s*(?:[-*+•‣◦▪]|\d{1,3}[.)])\s/;

/**
 * Blank lines end paragraphs. A single newline is a boundary only next to a list item (each item is spoken on
 * its own); elsewhere it is a soft wrap and reads as a space.
 */
function toBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let lines: string[] = [];
  let previousIsItem = false;
  const flush = (after: Boundary): void => {
    const joined = lines.join(" ").replace(/\s+/g, " ").trim();
    if (joined !== "") blocks.push({ text: joined, after });
    lines = [];
  };
  for (const line of text.split(/\r\n?|\n/)) {
    if (line.trim() === "") {
      flush("paragraph");
      previousIsItem = false;
      continue;
    }
    const isItem = LIST_ITEM.test(line);
    if (isItem || previousIsItem) flush("sentence");
    lines.push(line);
    previousIsItem = isItem;
  }
  flush("paragraph");
  return blocks;
}

function chunkBlock(block: Block, settings: Settings): Piece[] {
  const sentences = sentenceRanges(block.text, block.after);
  const pieces = sentences.flatMap((range) =>
    range.end - range.start > settings.maxChars ? splitLong(block.text, range, settings) : [range],
  );
  return mergeTiny(pieces, settings);
}

function sentenceRanges(s: string, lastAfter: Boundary): Piece[] {
  const ranges: Piece[] = [];
  let start = 0;
  for (const cut of sentenceCuts(s)) {
    ranges.push({ start, end: cut, after: "sentence" });
    start = skipSpace(s, cut);
  }
  ranges.push({ start, end: s.length, after: lastAfter });
  return ranges;
}

const TERMINATOR = /[.!?…。！？｡]+/g;
const WIDE_TERMINATOR = /[。！？｡]/;
const DOTS_ONLY = /^[.…]+$/;
const CLOSERS = "\"'”’»)]}」』】）〕〉》";
const OPENERS = "\"'“‘«„([{¿¡「『（";
const LOWERCASE = /\p{Ll}/uy;
const UPPERCASE = /[\p{Lu}\p{Lt}]/uy;
const DIGIT = /\p{Nd}/uy;

/**
 * Indexes where a sentence ends, just past its terminator run and any closing quotes or brackets. CJK stops end
 * a sentence outright; the others only before a space and a word that is not lowercase ("approx. five",
 * '"Hi!" he said' continue). A lone "." after an abbreviation or list number does not end one, and "..." / "…"
 * is a weak end that needs an uppercase word after it ("Wait... what?" is one sentence).
 */
function sentenceCuts(s: string): number[] {
  const cuts: number[] = [];
  let lastMarker = Number.NaN; // no list marker seen yet
  for (const match of s.matchAll(TERMINATOR)) {
    const run = match[0];
    const end = skipChars(s, match.index + run.length, CLOSERS);
    if (end >= s.length) break;
    if (WIDE_TERMINATOR.test(run)) {
      cuts.push(end);
      continue;
    }
    if (s.charAt(end) !== " ") continue; // 3.14, example.com, v1.2.3, ?q=1
    const next = skipChars(s, end + 1, OPENERS);
    if (run === ".") {
      if (match.index === 0 || s.charAt(match.index - 1) === " ") continue; // a spaced ". . ." or a stray "."
      const token = tokenBefore(s, match.index);
      const tokenStart = match.index - token.length;
      const marker = listMarker(s, tokenStart, token, lastMarker);
      if (marker !== undefined) {
        lastMarker = marker;
        continue;
      }
      if (isAbbreviation(token, s, next)) continue;
    }
    if (matchesAt(LOWERCASE, s, next)) continue;
    if (DOTS_ONLY.test(run) && run !== "." && !matchesAt(UPPERCASE, s, next)) continue;
    cuts.push(end);
  }
  return cuts;
}

const TOKEN_CHAR = /[\p{L}\p{N}.]/u;

/** The word-ish run (letters, digits, dots) ending at `at`; capped, since no abbreviation is long. */
function tokenBefore(s: string, at: number): string {
  let start = at;
  while (start > 0 && at - start < 40 && TOKEN_CHAR.test(s.charAt(start - 1))) start--;
  return s.slice(start, at);
}

/**
 * "N." is a list number, not a stop, when it starts the block or follows ":" or a sentence end, or when it
 * continues a list seen before ("1. Open it 2. Save it"); "born in 1990." and "scored 10." are not.
 */
function listMarker(s: string, tokenStart: number, token: string, lastMarker: number): number | undefined {
  if (!/^\d{1,2}$/.test(token) || (tokenStart > 0 && s.charAt(tokenStart - 1) !== " ")) return undefined;
  const n = Number(token);
  const opensList = tokenStart === 0 || /[:.!?;]/.test(s.charAt(tokenStart - 2));
  return opensList || n === lastMarker + 1 ? n : undefined;
}

/** Capitalised as written, so "sat." and "Mar." are told apart. */
const TITLES = new Set(
  (
    "Mr Mrs Ms Mx Dr Prof St Sr Jr Rev Hon Gen Col Lt Sgt Capt Gov Sen Rep Pres Mt Ft Ave Blvd Rd Inc Ltd Co " +
    "Corp Bros Ph.D Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
  ).split(" "),
);
const LOWER_ABBREVIATIONS = new Set("etc vs cf approx al viz ca".split(" "));
/** Only abbreviations before a number: "No. 5", "p. 12" (but "I said no. Then"). */
const NUMBER_ABBREVIATIONS = new Set("no nos vol vols fig figs p pp ch sec art op".split(" "));
const INITIALISM = /^(?:\p{L}\.)+\p{L}$/u; // U.S, e.g, i.e, a.m, p.m
const CAPITAL = /^\p{Lu}$/u;

function isAbbreviation(token: string, s: string, next: number): boolean {
  const lower = token.toLowerCase();
  return (
    TITLES.has(token) ||
    LOWER_ABBREVIATIONS.has(lower) ||
    (NUMBER_ABBREVIATIONS.has(lower) && matchesAt(DIGIT, s, next)) ||
    INITIALISM.test(token) ||
    // An initial before a name ("J. R. R. Tolkien"); "Plan B. Then" is lost to this, a merge at worst.
    (CAPITAL.test(token) && matchesAt(UPPERCASE, s, next))
  );
}

/**
 * Where a clause can end, cut just past the mark: , ; : ) – - ... … and a ! or ? that did not end the sentence,
 * each only before a space (so 1,000 and 10:30 stay whole); CJK marks and em dashes anywhere; and before an
 * opening parenthesis. The marks match without look-ahead so a run is scanned once, whatever its length.
 */
const CLAUSE_MARK = /((?:[,;:)!?…–]|\.{2,}|(?<= )-+)["'”’»)\]]*)|[、，；：）—]| (?=\()|(?=（)/g;

function clauseCuts(s: string, start: number, end: number): number[] {
  const cuts: number[] = [];
  for (const match of s.slice(start, end).matchAll(CLAUSE_MARK)) {
    const cut = start + match.index + match[0].length;
    if (match[1] === undefined || s.charAt(cut) === " ") cuts.push(cut);
  }
  return cuts;
}

function spaceCuts(s: string, start: number, end: number): number[] {
  const cuts: number[] = [];
  for (let at = s.indexOf(" ", start); at !== -1 && at < end; at = s.indexOf(" ", at + 1)) cuts.push(at);
  return cuts;
}

/**
 * Cuts a sentence longer than maxChars into pieces of about equal length (a tiny tail makes a poor context):
 * at the clause mark nearest the even split, else the nearest space, else between characters. Cuts leave at
 * least `floor` characters each side; the window that leaves is at least maxChars / 2 wide, so a space is only
 * missed in runs of that length without one.
 */
function splitLong(s: string, range: Piece, { maxChars, minChars }: Settings): Piece[] {
  const { end } = range;
  const clauses = clauseCuts(s, range.start, end);
  const spaces = spaceCuts(s, range.start, end);
  const floor = Math.max(1, Math.min(minChars, Math.floor(maxChars / 4)));
  const pieces: Piece[] = [];
  let from = range.start;
  while (end - from > maxChars) {
    const count = Math.ceil((end - from) / maxChars);
    const target = from + (end - from) / count;
    const lo = from + floor;
    const hi = Math.min(from + maxChars, end - floor);
    const cut =
      nearest(clauses, target, lo, hi) ??
      nearest(spaces, target, lo, hi) ??
      characterCut(s, from, Math.round(target));
    pieces.push({ start: from, end: trimSpaceBefore(s, cut), after: "clause" });
    from = skipSpace(s, cut);
  }
  pieces.push({ start: from, end, after: range.after });
  return pieces;
}

/** The sorted position in [lo, hi] closest to `target` (which lies in [lo, hi]); ties go to the longer piece. */
function nearest(sorted: number[], target: number, lo: number, hi: number): number | undefined {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] ?? Infinity) < target) low = mid + 1;
    else high = mid;
  }
  const after = sorted[low];
  const before = sorted[low - 1];
  const afterFits = after !== undefined && after <= hi;
  const beforeFits = before !== undefined && before >= lo;
  if (afterFits && beforeFits) return after - target <= target - before ? after : before;
  return afterFits ? after : beforeFits ? before : undefined;
}

const JOINS_PREVIOUS = /[\p{M}\p{Emoji_Modifier}\u200d]/uy;

/** Backs off from `at` to a cut that splits no surrogate pair, combining mark or emoji sequence, if one exists. */
function characterCut(s: string, from: number, at: number): number {
  for (let cut = at; cut > from; cut--) if (isGraphemeBoundary(s, cut)) return cut;
  return at;
}

function isGraphemeBoundary(s: string, at: number): boolean {
  const insidePair = isSurrogate(s.charCodeAt(at), 0xdc00) && isSurrogate(s.charCodeAt(at - 1), 0xd800);
  return !insidePair && s.charCodeAt(at - 1) !== 0x200d && !matchesAt(JOINS_PREVIOUS, s, at);
}

const isSurrogate = (code: number, base: number): boolean => code >= base && code < base + 0x400;

/**
 * Joins each piece shorter than minChars to the next while the result fits maxChars, then any still short to
 * the one before, so "Hi. I'm Ann." is one context and a closing "Bye." does not stand alone.
 */
function mergeTiny(pieces: Piece[], { minChars, maxChars }: Settings): Piece[] {
  const fits = (head: Piece, tail: Piece): boolean => tail.end - head.start <= maxChars;
  const forward = joinWhile(pieces, (head, tail) => head.end - head.start < minChars && fits(head, tail));
  return joinWhile(forward, (head, tail) => tail.end - tail.start < minChars && fits(head, tail));
}

function joinWhile(pieces: Piece[], shouldJoin: (head: Piece, tail: Piece) => boolean): Piece[] {
  const joined: Piece[] = [];
  for (const piece of pieces) {
    const last = joined.at(-1);
    if (last && shouldJoin(last, piece)) joined[joined.length - 1] = { ...piece, start: last.start };
    else joined.push(piece);
  }
  return joined;
}

function matchesAt(sticky: RegExp, s: string, at: number): boolean {
  sticky.lastIndex = at;
  return sticky.test(s);
}

function skipChars(s: string, at: number, chars: string): number {
  let i = at;
  while (i < s.length && chars.includes(s.charAt(i))) i++;
  return i;
}

const skipSpace = (s: string, at: number): number => (s.charAt(at) === " " ? at + 1 : at);
const trimSpaceBefore = (s: string, at: number): number => (s.charAt(at - 1) === " " ? at - 1 : at);
