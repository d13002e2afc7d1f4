// `pnpm bench`: decode + resample + loudness-normalize of a 30 s 44.1 kHz stereo 16-bit clip, the work a voice
// upload costs before the model sees it. Reports the median of several runs per stage and for the whole chain.
import { decodeWav, MODEL_SAMPLE_RATE, normalizeLoudness, prepareReferenceClip, resample } from "../src";
import { makeWav, speechLike } from "../test/signals";

const SECONDS = 30;
const RATE = 44_100;
const RUNS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function time(run: () => unknown): number {
  run(); // warm-up: JIT and caches
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    run();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

const speech = speechLike(SECONDS, RATE, 0.2);
const file = makeWav([speech, speech.map((x) => x * 0.7)], RATE, "16");
const decoded = decodeWav(file);
const resampled = resample(decoded.samples, RATE, MODEL_SAMPLE_RATE);

const stages = {
  decode: time(() => decodeWav(file)),
  resample: time(() => resample(decoded.samples, RATE, MODEL_SAMPLE_RATE)),
  normalize: time(() => normalizeLoudness(resampled, MODEL_SAMPLE_RATE, -27)),
  "prepareReferenceClip (all)": time(() =>
    prepareReferenceClip(file, { maxSeconds: SECONDS, minSeconds: 1 }),
  ),
};

console.log(
  `\n${SECONDS} s of ${RATE / 1000} kHz stereo 16-bit WAV (${(file.length / 1e6).toFixed(1)} MB), median of ${RUNS} runs`,
);
console.log(`${"stage".padEnd(28)}${"ms".padStart(9)}${"x real time".padStart(14)}`);
for (const [stage, ms] of Object.entries(stages)) {
  console.log(
    `${stage.padEnd(28)}${ms.toFixed(1).padStart(9)}${((SECONDS * 1000) / ms).toFixed(0).padStart(14)}`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
