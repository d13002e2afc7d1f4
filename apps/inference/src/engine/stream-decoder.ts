import { SAMPLES_PER_TOKEN } from "./contract";

/** How speech tokens become audio while they are still being generated. */
export interface StreamingOptions {
  /** New tokens before the first chunk is decoded: the latency to first audio, 40 ms of speech each. */
  firstChunkTokens: number;
  /** New tokens per later chunk; each chunk is `growth` times the last, up to `maxChunkTokens`. */
  chunkTokens: number;
  maxChunkTokens: number;
  growth: number;
  /**
   * Already emitted tokens decoded again before a window's new ones, so they sound as they would in one pass
   * (the decoder looks at its neighbours). Their samples are decoded and dropped.
   */
  contextTokens: number;
  /** Newest tokens held back until later ones exist to follow them (the decoder looks ahead too). */
  lookaheadTokens: number;
  /** Each join is crossfaded over this many samples (at most one token's worth). */
  crossfadeSamples: number;
}

export const DEFAULT_STREAMING: StreamingOptions = Object.freeze({
  firstChunkTokens: 12,
  chunkTokens: 24,
  maxChunkTokens: 96,
  growth: 1.5,
  contextTokens: 24,
  lookaheadTokens: 4,
  crossfadeSamples: 480,
});

/**
 * Without a listener (a whole file is wanted), windows are this long: 20 s of speech, so a sentence-sized chunk
 * takes one decoder run over the prompt, while memory stays bounded for long ones.
 */
export const WHOLE_WINDOW_TOKENS = 500;

/**
 * The windows for one synthesis: small first ones when a listener waits for the first audio; when the text
 * continues audio already sent (a later chunk of a job), the listener has that audio to play, so windows start
 * at the largest size; without a listener, few large windows.
 */
export function windowsFor(
  options: StreamingOptions,
  listener: "first" | "continuation" | "none",
): StreamingOptions {
  if (listener === "first") return options;
  const size =
    listener === "none" ? Math.max(WHOLE_WINDOW_TOKENS, options.maxChunkTokens) : options.maxChunkTokens;
  return { ...options, firstChunkTokens: size, chunkTokens: size, maxChunkTokens: size };
}

export function validateStreamingOptions(options: StreamingOptions): void {
  const whole = (name: keyof StreamingOptions, min: number) => {
    const value = options[name];
    if (!Number.isInteger(value) || value < min)
      throw new RangeError(`streaming.${name} must be a whole number >= ${min} (got ${value})`);
  };
  whole("firstChunkTokens", 1);
  whole("chunkTokens", 1);
  whole("maxChunkTokens", options.chunkTokens);
  whole("contextTokens", 0);
  whole("lookaheadTokens", 0);
  whole("crossfadeSamples", 0);
  if (options.crossfadeSamples > SAMPLES_PER_TOKEN)
    throw new RangeError(`streaming.crossfadeSamples must be at most ${SAMPLES_PER_TOKEN}`);
  if (!(options.growth >= 1)) throw new RangeError(`streaming.growth must be >= 1 (got ${options.growth})`);
}

/**
 * Decodes a growing token sequence window by window, never the whole sequence again: each window is the new
 * tokens plus `contextTokens` before them (and the crossfade overlap), and only the new samples are kept. The
 * last `crossfadeSamples` of every chunk are held back and crossfaded with the next window's version of them;
 * the newest `lookaheadTokens` wait for their right-hand neighbours. So, with enough context and lookahead, the
 * stream equals one whole-sequence decode everywhere outside the crossfades, at a cost linear in its length.
 */
export class StreamDecoder {
  /** Tokens whose samples have been emitted (all but the held-back tail). */
  private emitted = 0;
  private tail = new Float32Array(0);
  private nextChunk: number;
  /** Tokens run through the decoder so far (windows overlap, so a little more than the sequence). */
  decodedTokens = 0;
  decoderCalls = 0;
  decoderMs = 0;

  constructor(
    private readonly decode: (tokens: readonly number[]) => Promise<Float32Array>,
    private readonly options: StreamingOptions,
    private readonly emit: (samples: Float32Array) => void,
  ) {
    validateStreamingOptions(options);
    this.nextChunk = options.firstChunkTokens;
  }

  /** Call with every token so far after each new one; decodes a window when enough have accumulated. */
  async push(tokens: readonly number[]): Promise<void> {
    const ready = tokens.length - this.options.lookaheadTokens;
    if (ready - this.emitted < this.nextChunk) return;
    await this.decodeUpTo(tokens, ready, false);
    const { chunkTokens, growth, maxChunkTokens } = this.options;
    this.nextChunk = Math.max(chunkTokens, Math.min(maxChunkTokens, Math.round(this.nextChunk * growth)));
  }

  /** The whole sequence is known (with any trailing tokens the decoder needs): emits everything left. */
  async finish(tokens: readonly number[]): Promise<void> {
    if (tokens.length > this.emitted) await this.decodeUpTo(tokens, tokens.length, true);
    else if (this.tail.length > 0) this.emit(this.tail);
    this.tail = new Float32Array(0);
  }

  private async decodeUpTo(tokens: readonly number[], end: number, final: boolean): Promise<void> {
    const { contextTokens, crossfadeSamples: fade } = this.options;
    const overlapTokens = Math.ceil(fade / SAMPLES_PER_TOKEN);
    const start = this.emitted === 0 ? 0 : Math.max(0, this.emitted - overlapTokens - contextTokens);
    // The window runs to the newest token so the last emitted ones get their right-hand context.
    const window = tokens.slice(start, final ? end : tokens.length);
    const began = performance.now();
    const samples = await this.decode(window);
    this.decoderMs += performance.now() - began;
    this.decodedTokens += window.length;
    this.decoderCalls++;
    const at = (token: number) => (token - start) * SAMPLES_PER_TOKEN;
    const joinStart = at(this.emitted) - this.tail.length;
    const keepEnd = at(end) - (final ? 0 : fade);
    const chunk = new Float32Array(this.tail.length + Math.max(0, keepEnd - at(this.emitted)));
    // Equal-gain crossfade: both sides estimate the same signal, so their gains sum to one.
    for (let i = 0; i < this.tail.length; i++) {
      const w = (i + 0.5) / this.tail.length;
      chunk[i] = this.tail[i]! * (1 - w) + (samples[joinStart + i] ?? 0) * w;
    }
    chunk.set(samples.subarray(at(this.emitted), Math.max(at(this.emitted), keepEnd)), this.tail.length);
    this.tail = final ? new Float32Array(0) : samples.slice(keepEnd, at(end));
    this.emitted = end;
    if (chunk.length > 0) this.emit(chunk);
  }
}
