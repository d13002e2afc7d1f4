/**
 * Changes speed without changing pitch: WSOLA (waveform-similarity overlap-add). Each output frame is taken
 * from near its ideal input position, shifted within a small tolerance to where it best continues the previous
 * frame, so periodic speech overlaps in phase instead of smearing.
 *
 * It streams: a frame is made once every input sample it can read has arrived, and it reads nothing else, so
 * how the input is cut into chunks cannot change the output. Only samples that later frames may read are kept.
 */
import { concatSamples } from "./dsp";

const WINDOW_SECONDS = 0.03;
const TOLERANCE_SECONDS = 0.01;
/** Similarity is measured on every Nth sample: ample for alignment at a fraction of the cost. */
const CORRELATION_STRIDE = 4;

export interface TimeStretcher {
  /** Takes the next input; returns every output sample that later input cannot change (possibly none). */
  push(chunk: Float32Array): Float32Array;
  /** Ends the stream: returns the rest of the output (round(input length / speed) in all) and starts afresh. */
  flush(): Float32Array;
  /** Input samples held for frames still to come: bounded by window, tolerance and speed, not by the stream. */
  readonly bufferedSamples: number;
  /** After N input samples have been pushed, at least round(N / speed) - latency output samples are out. */
  readonly latency: number;
}

export function createTimeStretcher(sampleRate: number, speed: number): TimeStretcher {
  if (!Number.isFinite(speed) || speed < 0.25 || speed > 4) {
    throw new RangeError(`speed must be between 0.25 and 4 (got ${speed})`);
  }
  return speed === 1 ? passThrough() : new Wsola(sampleRate, speed);
}

export function timeStretch(samples: Float32Array, sampleRate: number, speed: number): Float32Array {
  const stretcher = createTimeStretcher(sampleRate, speed);
  return concatSamples([stretcher.push(samples), stretcher.flush()]);
}

function passThrough(): TimeStretcher {
  return { push: (chunk) => chunk.slice(), flush: () => new Float32Array(0), bufferedSamples: 0, latency: 0 };
}

class Wsola implements TimeStretcher {
  readonly latency: number;
  private readonly window: number;
  private readonly hop: number;
  private readonly tolerance: number;
  private readonly hann: Float32Array;
  private readonly input: InputWindow;
  /** Overlap-add sums for output samples [frame * hop, frame * hop + window). */
  private readonly sum: Float32Array;
  private readonly weight: Float32Array;
  private frame = 0;
  /** Input start of the previous frame; -hop puts the first frame's continuation point at 0. */
  private previous: number;

  constructor(
    sampleRate: number,
    private readonly speed: number,
  ) {
    this.window = Math.max(16, Math.round(WINDOW_SECONDS * sampleRate) & ~1);
    this.hop = this.window / 2;
    this.tolerance = Math.round(TOLERANCE_SECONDS * sampleRate);
    this.previous = -this.hop;
    this.hann = new Float32Array(this.window);
    for (let i = 0; i < this.window; i++)
      this.hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / this.window);
    this.sum = new Float32Array(this.window);
    this.weight = new Float32Array(this.window);
    const { window, hop, tolerance } = this;
    // A frame waits for tolerance + window input past its ideal start (below speed 1 the previous frame's
    // continuation can lie up to (1 - speed) * hop further), or for its hop of output to fit in
    // round(received / speed); rounding adds half a sample on each side.
    this.latency = Math.max(
      hop,
      Math.ceil((window + tolerance + Math.max(0, (1 - speed) * hop) + 0.5) / speed + 0.5),
    );
    // The widest input span a frame needs, from the oldest sample it may read to the last it waits for, is
    // below this; twice it leaves room to take in a chunk's next part after every round of frames.
    const span = window + hop + 2 * tolerance + 2 * Math.ceil(hop * speed) + 4;
    this.input = new InputWindow(2 * span);
  }

  get bufferedSamples(): number {
    return this.input.held;
  }

  push(chunk: Float32Array): Float32Array {
    const parts: Float32Array[] = [];
    for (let taken = 0; taken < chunk.length;) {
      taken += this.input.append(chunk.subarray(taken));
      while (this.ready()) parts.push(this.nextFrame());
      this.input.discardBefore(this.oldestNeeded());
    }
    return concatSamples(parts);
  }

  flush(): Float32Array {
    // Past the input's end every read is silence, so the remaining frames can all be made now.
    const length = Math.round(this.input.end / this.speed);
    const parts: Float32Array[] = [];
    while (this.frame * this.hop < length) {
      const start = this.frame * this.hop;
      parts.push(this.nextFrame().subarray(0, length - start));
    }
    this.reset();
    return concatSamples(parts);
  }

  private ideal(): number {
    return Math.round(this.frame * this.hop * this.speed);
  }

  /** Where the previous frame's input would naturally continue: the next frame should match it. */
  private natural(): number {
    return this.previous + this.hop;
  }

  /** The next frame can be made without input yet to come, and its hop of output is within the length so far. */
  private ready(): boolean {
    const { end } = this.input;
    const reach = Math.max(this.ideal() + this.tolerance, this.natural()) + this.window;
    return end >= reach && Math.round(end / this.speed) >= (this.frame + 1) * this.hop;
  }

  private oldestNeeded(): number {
    return Math.min(this.ideal() - this.tolerance, this.natural());
  }

  /** Overlap-adds the next frame and returns the hop of output that no later frame touches. */
  private nextFrame(): Float32Array {
    const { window, hop, hann, sum, weight, input } = this;
    const ideal = this.ideal();
    const start = this.frame === 0 ? ideal : this.bestMatch(ideal);
    for (let i = 0; i < window; i++) {
      sum[i]! += input.at(start + i) * hann[i]!;
      weight[i]! += hann[i]!;
    }
    const done = new Float32Array(hop);
    for (let i = 0; i < hop; i++) done[i] = sum[i]! / Math.max(weight[i]!, 1e-3);
    sum.copyWithin(0, hop).fill(0, hop);
    weight.copyWithin(0, hop).fill(0, hop);
    this.previous = start;
    this.frame++;
    return done;
  }

  /** The start within tolerance of `ideal` whose samples best match those that followed the previous frame. */
  private bestMatch(ideal: number): number {
    const { window, tolerance, input } = this;
    const natural = this.natural();
    let best = -Infinity;
    let start = ideal;
    for (let candidate = ideal - tolerance; candidate <= ideal + tolerance; candidate++) {
      let score = 0;
      for (let i = 0; i < window; i += CORRELATION_STRIDE)
        score += input.at(candidate + i) * input.at(natural + i);
      if (score > best) {
        best = score;
        start = candidate;
      }
    }
    return start;
  }

  private reset(): void {
    this.input.clear();
    this.sum.fill(0);
    this.weight.fill(0);
    this.frame = 0;
    this.previous = -this.hop;
  }
}

/** A fixed-size window onto the input stream, addressed by absolute sample index. */
class InputWindow {
  /** Samples received so far. */
  end = 0;
  /** Absolute index of data[0]. */
  private start = 0;
  private readonly data: Float32Array;

  constructor(capacity: number) {
    this.data = new Float32Array(capacity);
  }

  get held(): number {
    return this.end - this.start;
  }

  /** Appends as much of `chunk` as fits and returns how many samples that was. */
  append(chunk: Float32Array): number {
    const count = Math.min(chunk.length, this.data.length - this.held);
    this.data.set(chunk.subarray(0, count), this.held);
    this.end += count;
    return count;
  }

  /** Silence before the stream and past what has been received, which after the last input is its end. */
  at(index: number): number {
    return index >= this.start && index < this.end ? this.data[index - this.start]! : 0;
  }

  discardBefore(index: number): void {
    const count = index - this.start;
    if (count <= 0) return;
    this.data.copyWithin(0, count, this.held);
    this.start = index;
  }

  clear(): void {
    this.start = 0;
    this.end = 0;
  }
}
