import { copyFileSync, cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";

import type { Device, RuntimeBackend, Variant } from "@tts/api";
import { encodeWav } from "@tts/audio";

import { BundleError, stageFiles } from "../src/engine/bundle";
import { SAMPLES_PER_TOKEN, SPEECH_CODES, STAGES, TURBO_SILENCE_TOKEN } from "../src/engine/contract";
import { ChatterboxModel, englishPrefillPositions, type GenerationOptions } from "../src/engine/model";
import { resolveSettings } from "../src/engine/resolve-settings";
import { createSessions, DeviceError, type Provider } from "../src/engine/sessions";
import { GPU_INSTALL_HINT } from "../src/onnx/backends";
import { tinyBundle } from "./support/tiny";

const load = (dir: string, extra: Partial<Parameters<typeof ChatterboxModel.load>[1]> = {}) =>
  ChatterboxModel.load(dir, { dtype: "fp32", device: "cpu", threads: 1, ...extra });

function options(
  variant: Variant,
  overrides: Partial<GenerationOptions> = {},
  greedy = false,
): GenerationOptions {
  return { ...resolveSettings(variant, { greedy, seed: 7 }).generation, ...overrides };
}

function lastRow(logits: ort.Tensor, row = 0): Float32Array {
  const [, length = 1, vocab = 0] = logits.dims;
  const data = logits.data as Float32Array;
  return data.slice((row * length + length - 1) * vocab, (row * length + length) * vocab);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return worst;
}

function concatSequence(parts: ort.Tensor[]): ort.Tensor {
  const [batch = 1, , hidden = 0] = parts[0]!.dims;
  const length = parts.reduce((sum, part) => sum + part.dims[1]!, 0);
  const out = new Float32Array(batch * length * hidden);
  let offset = 0;
  for (const part of parts) {
    const rows = part.dims[1]!;
    const data = part.data as Float32Array;
    for (let b = 0; b < batch; b++)
      out.set(data.subarray(b * rows * hidden, (b + 1) * rows * hidden), (b * length + offset) * hidden);
    offset += rows;
  }
  return new ort.Tensor("float32", out, [batch, length, hidden]);
}

describe.each(["turbo", "english"] as const)("%s tiny-random bundle", (variant) => {
  describe.each(["float32", "float16"] as const)("KV cache %s", (kvDtype) => {
    it("incremental decoding gives the logits of a full recompute (within 1e-4) at every step, and the cache matters", async () => {
      const bundle = await tinyBundle({ variant, kvDtype, stopAfter: null });
      const model = await load(bundle.dir, { dtype: kvDtype === "float16" ? "fp16" : "fp32" });
      expect(model.kv.type).toBe(kvDtype);
      const { conditioning } = await model.conditioning(await model.defaultVoice());
      const ids = model.textIds("Check the cache.");
      const english = variant === "english";
      const embedText = await model.embed(
        ids,
        1,
        english ? { positions: englishPrefillPositions(ids), exaggeration: 0.5 } : undefined,
      );
      const sequence = [conditioning.audioFeatures, embedText];
      let { logits, cache } = await model.languageModel(concatSequence(sequence), 0, model.emptyCache(1));
      let pastLength = concatSequence(sequence).dims[1]!;
      let worst = 0;
      let cacheEffect = 0;
      for (let step = 0; step < 12; step++) {
        const token = (step * 523 + 17) % SPEECH_CODES;
        const embeds = await model.embed(
          [token],
          1,
          english ? { positions: [step + 1], exaggeration: 0.5 } : undefined,
        );
        const previous = cache;
        ({ logits, cache } = await model.languageModel(embeds, pastLength, previous));
        // The same step over a cache with one layer's keys zeroed (same shapes) must give other logits.
        const [zeroName, zeroTensor] = Object.entries(previous)[0]!;
        const blank = new ort.Tensor(
          zeroTensor.type,
          zeroTensor.type === "float16"
            ? new Uint16Array(zeroTensor.size)
            : new Float32Array(zeroTensor.size),
          zeroTensor.dims,
        );
        const altered = await model.languageModel(embeds, pastLength, { ...previous, [zeroName]: blank });
        cacheEffect = Math.max(cacheEffect, maxAbsDiff(lastRow(logits), lastRow(altered.logits)));
        pastLength += 1;
        sequence.push(embeds);
        const full = await model.languageModel(concatSequence(sequence), 0, model.emptyCache(1));
        worst = Math.max(worst, maxAbsDiff(lastRow(logits), lastRow(full.logits)));
      }
      console.log(
        `KV ${variant}/${kvDtype}: max |cached - recomputed| ${worst.toExponential(2)}, cache effect ${cacheEffect.toFixed(3)}`,
      );
      expect(worst).toBeLessThan(1e-4);
      expect(cacheEffect).toBeGreaterThan(1e-2);
      await model.release();
    });
  });

  it("stop-token path: decoder gets prompt + real codes (+3 silence for Turbo) and the waveform is 960 per token", async () => {
    const bundle = await tinyBundle({ variant, stopAfter: 20 });
    const model = await load(bundle.dir);
    const result = await model.synthesize("Stop where you are.", undefined, options(variant));
    expect(result.stopReason).toBe("stop-token");
    expect(result.tokens).toHaveLength(20);
    const { conditioning } = await model.conditioning(await model.defaultVoice());
    const prompt = Array.from(conditioning.audioTokens.data as BigInt64Array, Number);
    const codes = result.tokens.filter((t) => t < SPEECH_CODES);
    const silence =
      variant === "turbo" ? [TURBO_SILENCE_TOKEN, TURBO_SILENCE_TOKEN, TURBO_SILENCE_TOKEN] : [];
    expect(result.decoderTokens).toEqual([...prompt, ...codes, ...silence]);
    expect(result.waveform.length).toBe(SAMPLES_PER_TOKEN * (codes.length + silence.length));
    expect(result.sampleRate).toBe(24_000);
    expect(result.timings.stepMs).toHaveLength(20);
    expect(result.timings.prefillMs).toBeGreaterThan(0);
    expect(result.timings.decoderMs).toBeGreaterThan(0);
    await model.release();
  });

  it("token-limit path: stops at maxTokens with every real token kept", async () => {
    const bundle = await tinyBundle({ variant, stopAfter: null });
    const model = await load(bundle.dir);
    const result = await model.synthesize("Keep going.", undefined, options(variant, { maxTokens: 9 }));
    expect(result.stopReason).toBe("max-tokens");
    expect(result.tokens).toHaveLength(9);
    const codes = result.tokens.filter((t) => t < SPEECH_CODES);
    const extra = variant === "turbo" ? 3 : 0;
    expect(result.decoderTokens.slice(-(codes.length + extra))).toEqual([
      ...codes,
      ...new Array<number>(extra).fill(TURBO_SILENCE_TOKEN),
    ]);
    expect(result.waveform.length).toBe(SAMPLES_PER_TOKEN * (codes.length + extra));
    await model.release();
  });

  it("a throwing onToken (how a worker cancels) ends generation at that step, with no step after it", async () => {
    const bundle = await tinyBundle({ variant, stopAfter: null });
    const model = await load(bundle.dir);
    const seen: number[] = [];
    const stop = new Error("cancelled");
    const running = model.synthesize("Cancel me.", undefined, options(variant, { maxTokens: 200 }), {
      onToken: (n) => {
        seen.push(n);
        if (n === 5) throw stop;
      },
    });
    await expect(running).rejects.toBe(stop);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    // The model stays usable after a cancelled run.
    const next = await model.synthesize("Next.", undefined, options(variant, { maxTokens: 3 }));
    expect(next.tokens).toHaveLength(3);
    await model.release();
  });

  it("same seed gives a byte-identical WAV; greedy gives identical tokens; another seed differs", async () => {
    const bundle = await tinyBundle({ variant, stopAfter: 30 });
    const model = await load(bundle.dir);
    const text = "Reproducible speech.";
    const a = await model.synthesize(text, undefined, options(variant, { seed: 42 }));
    const b = await model.synthesize(text, undefined, options(variant, { seed: 42 }));
    expect(
      Buffer.from(encodeWav(a.waveform, 24_000)).equals(Buffer.from(encodeWav(b.waveform, 24_000))),
    ).toBe(true);
    const c = await model.synthesize(text, undefined, options(variant, { seed: 43 }));
    expect(c.tokens).not.toEqual(a.tokens);
    const g1 = await model.synthesize(text, undefined, options(variant, {}, true));
    const g2 = await model.synthesize(text, undefined, options(variant, { seed: 999 }, true));
    expect(g2.tokens).toEqual(g1.tokens);
    await model.release();
  });

  it("runs speech_encoder once per voice: a repeat voice comes from the cache", async () => {
    const bundle = await tinyBundle({ variant, stopAfter: 5 });
    const model = await load(bundle.dir);
    const voice = await model.defaultVoice();
    const other = { samples: voice.samples.map((x) => x * 0.5) };
    const first = await model.synthesize("One.", { samples: voice.samples }, options(variant));
    const second = await model.synthesize("Two.", { samples: voice.samples.slice() }, options(variant));
    expect(first.voiceCached).toBe(false);
    expect(second.voiceCached).toBe(true);
    expect(model.encoderRuns).toBe(1);
    await model.synthesize("Three.", other, options(variant));
    expect(model.encoderRuns).toBe(2);
    await model.release();
  });
});

describe("bundle checks", () => {
  it("refuses a Turbo folder holding English's embed_tokens, naming each mismatch", async () => {
    const turbo = await tinyBundle({ variant: "turbo" });
    const english = await tinyBundle({ variant: "english" });
    const mixed = mkdtempSync(path.join(tmpdir(), "mixed-"));
    cpSync(turbo.dir, mixed, { recursive: true });
    for (const file of ["embed_tokens.onnx", "embed_tokens.onnx_data"]) {
      copyFileSync(path.join(english.dir, "onnx", file), path.join(mixed, "onnx", file));
    }
    const attempt = load(mixed);
    await expect(attempt).rejects.toBeInstanceOf(BundleError);
    await expect(attempt).rejects.toThrow(
      /As turbo:\n {2}- embed_tokens: unexpected input `position_ids`\n {2}- embed_tokens: unexpected input `exaggeration`\nAs english:\n {2}- language_model: unexpected input `position_ids`/,
    );
    await expect(load(mixed, { variant: "turbo" })).rejects.toThrow(
      /^These graphs do not form a Chatterbox turbo bundle[^]*embed_tokens: unexpected input `position_ids`/,
    );
  });

  it("names missing files and how to get them", async () => {
    const empty = mkdtempSync(path.join(tmpdir(), "empty-"));
    await expect(load(empty)).rejects.toThrow(
      /Model files missing .*onnx\/speech_encoder\.onnx.*tts models pull/,
    );
  });
});

describe("createSessions: device selection, for either install state whatever this host has", () => {
  const cpu: RuntimeBackend = { name: "cpu", available: true };
  const cpuOnly = () => [cpu, { name: "cuda", available: false, detail: GPU_INSTALL_HINT }];
  const gpuInstalled = () => [cpu, { name: "cuda", available: true, detail: "provider library installed" }];
  const driverTooOld = () =>
    Promise.reject(
      new Error("CUDA failure 35: driver version is insufficient\n    at provider_bridge_ort.cc"),
    );
  const never = () => Promise.reject(new Error("CUDA must not be tried"));

  /**
   * Opens real CPU sessions on the tiny bundle and records which provider each stage was asked for; what a CUDA
   * request gives is up to the test, since this host's real answer depends on its install and GPU.
   */
  async function select(
    device: Device,
    backends: () => RuntimeBackend[],
    cuda: (file: string) => Promise<ort.InferenceSession>,
  ): Promise<{ provider?: Provider; error?: Error; opened: string[]; lines: string[] }> {
    const files = stageFiles((await tinyBundle({ variant: "turbo" })).dir, "fp32");
    const opened: string[] = [];
    const lines: string[] = [];
    const outcome = { opened, lines };
    try {
      const { sessions, provider } = await createSessions(files, {
        device,
        threads: 1,
        log: (line) => lines.push(line),
        backends,
        openSession: (file, options) => {
          const [first] = options.executionProviders ?? [];
          const provider = typeof first === "string" ? first : first?.name;
          opened.push(`${STAGES.find((stage) => files[stage] === file)} on ${provider}`);
          return provider === "cuda" ? cuda(file) : ort.InferenceSession.create(file, options);
        },
      });
      await Promise.all(Object.values(sessions).map((session) => session.release()));
      return { ...outcome, provider };
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      return { ...outcome, error };
    }
  }

  it("device=auto without the CUDA library falls back to CPU with a log line, never trying CUDA", async () => {
    const { provider, opened, lines } = await select("auto", cpuOnly, never);
    expect(provider).toBe("cpu");
    expect(opened).toEqual(STAGES.map((stage) => `${stage} on cpu`));
    expect(lines).toEqual([`CUDA unavailable (CUDA provider ${GPU_INSTALL_HINT}); falling back to CPU`]);
  });

  it("device=auto with CUDA installed but refusing to start falls back to CPU, logging the first line of why", async () => {
    const { provider, opened, lines } = await select("auto", gpuInstalled, driverTooOld);
    expect(provider).toBe("cpu");
    expect(opened).toEqual(["speech_encoder on cuda", ...STAGES.map((stage) => `${stage} on cpu`)]);
    expect(lines).toEqual([
      "CUDA unavailable (CUDA failure 35: driver version is insufficient); falling back to CPU",
    ]);
  });

  it("device=auto puts every stage on CUDA when a session starts there", async () => {
    // A CPU session stands in for the CUDA one this host may not be able to open.
    const started = (file: string) => ort.InferenceSession.create(file);
    const { provider, opened, lines } = await select("auto", gpuInstalled, started);
    expect(provider).toBe("cuda");
    expect(opened).toEqual(STAGES.map((stage) => `${stage} on cuda`));
    expect(lines).toEqual([]);
  });

  it("device=cuda fails loudly with a DeviceError naming the GPU install, whether CUDA is absent or fails", async () => {
    const absent = await select("cuda", cpuOnly, never);
    expect(absent.error).toBeInstanceOf(DeviceError);
    expect(absent.error?.message).toMatch(/cannot be used: CUDA provider not installed.*gpu:install/);
    expect(absent.opened).toEqual([]);
    const failing = await select("cuda", gpuInstalled, driverTooOld);
    expect(failing.error).toBeInstanceOf(DeviceError);
    expect(failing.error?.message).toMatch(
      /cannot be used: CUDA failure 35: driver version is insufficient\. Install the GPU build \(`pnpm --filter @tts\/inference gpu:install`/,
    );
    expect(failing.opened).toEqual(["speech_encoder on cuda"]);
  });
});
