// `pnpm exec tsx bench/model-levers.bench.ts <bundleDir> [--dtype q4|fp32] [--threads N] [--first-tokens N]`:
// the figures the engine's speed levers are judged by, on one bundle (a full-size stand-in from
// `tts models make-standin`):
// - prefill of the first and the second request with one voice (the second reuses the voice's KV prefix);
// - time to first audio with that voice cached;
// - median LM step (embed + language_model) with guidance off and, for English, on (a batch of two rows; the
//   two alternate three times);
// - the same step with in-place KV buffers off (`sharedKv: false`), and whether greedy tokens stay identical.
// Greedy, fixed seed, the bundle's default voice. Prints a table and one JSON line.
import { parseArgs } from "node:util";

import { ChatterboxModel } from "../src/engine/model";
import { resolveSettings } from "../src/engine/resolve-settings";
import { DEFAULT_STREAMING } from "../src/engine/stream-decoder";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dtype: { type: "string", default: "q4" },
    threads: { type: "string", default: "2" },
    // TTS_STREAM_FIRST_TOKENS: tokens before the first streamed window (time to first audio).
    "first-tokens": { type: "string", default: String(DEFAULT_STREAMING.firstChunkTokens) },
  },
});
const dir = positionals[0];
if (!dir) throw new Error("usage: model-levers.bench.ts <bundleDir> [--dtype q4|fp32] [--threads N]");

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const TEXT = "The quick brown fox jumps over the lazy dog, and then it runs away into the woods.";

const model = await ChatterboxModel.load(dir, {
  dtype: values.dtype as "q4" | "fp32",
  device: "cpu",
  threads: Number(values.threads),
  streaming: { ...DEFAULT_STREAMING, firstChunkTokens: Number(values["first-tokens"]) },
});
const voice = await model.defaultVoice();
const run = (cfgWeight: number, maxTokens: number) =>
  model.synthesize(
    TEXT,
    voice,
    resolveSettings(model.variant, {
      greedy: true,
      seed: 7,
      maxTokens,
      ...(model.variant === "english" && { cfgWeight }),
    }).generation,
    { onAudio: () => undefined },
  );

const first = await run(0, 40);
const second = await run(0, 40);
const guidedOff = await run(0, 60);
const figures: Record<string, number | string> = {
  variant: model.variant,
  dtype: String(values.dtype),
  threads: Number(values.threads),
  "first streamed window (tokens)": Number(values["first-tokens"]),
  "prefill, first request (ms)": Math.round(first.timings.prefillMs),
  "prefill, second request, same voice (ms)": Math.round(second.timings.prefillMs),
  "time to first audio, cached voice (ms)": Math.round(second.timings.firstAudioMs),
  "LM step median, guidance off (ms)": Number(median(guidedOff.timings.stepMs).toFixed(1)),
};
{
  // The copying KV path, same bundle and settings, for the before/after of in-place KV steps.
  const copying = await ChatterboxModel.load(dir, {
    dtype: values.dtype as "q4" | "fp32",
    device: "cpu",
    threads: Number(values.threads),
    sharedKv: false,
  });
  const settings = resolveSettings(model.variant, { greedy: true, seed: 7, maxTokens: 60, cfgWeight: 0 });
  const copied = await copying.synthesize(TEXT, voice, settings.generation, { onAudio: () => undefined });
  await copying.release();
  figures["LM step median, KV copied every step (ms)"] = Number(median(copied.timings.stepMs).toFixed(1));
  figures["greedy tokens, in-place KV vs copied"] =
    copied.tokens.join() === guidedOff.tokens.join() ? `identical (${copied.tokens.length})` : "differ";
}
if (model.variant === "english") {
  // Guidance on and off in turn, three times each, so that both see the same machine; medians of all steps.
  const steps = { on: [] as number[], off: [] as number[] };
  for (let round = 0; round < 3; round++) {
    steps.on.push(...(await run(0.5, 60)).timings.stepMs);
    steps.off.push(...(await run(0, 60)).timings.stepMs);
  }
  const on = median(steps.on);
  const off = median(steps.off);
  figures["LM step median, guidance on (ms)"] = Number(on.toFixed(1));
  figures["LM step median, guidance off, same rounds (ms)"] = Number(off.toFixed(1));
  figures["guidance on / off per step"] = Number((on / off).toFixed(2));
}
await model.release();
for (const [name, value] of Object.entries(figures)) console.log(`${name.padEnd(44)} ${value}`);
console.log(JSON.stringify(figures));
