#!/usr/bin/env node
// `tts`: synthesize from the command line and manage model files (download, verify, tiny test bundles).
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { Command, InvalidArgumentError, Option } from "commander";
import { z, ZodError } from "zod";

import { DEVICES, DTYPES, generationSettingsSchema, VARIANTS, type Variant } from "@tts/api";
import { AudioError, encodeWav, prepareReferenceClip, timeStretch } from "@tts/audio";

import packageJson from "../package.json" with { type: "json" };
import { BundleError } from "./engine/bundle";
import { ChatterboxModel } from "./engine/model";
import { resolveSettings } from "./engine/resolve-settings";
import { DeviceError } from "./engine/sessions";
import { EnvError, loadEnv } from "./env";
import { ensureModel, loadOptions, modelSettingsFromEnv, type ModelSettings } from "./model-settings";
import { downloadModel } from "./models/download";
import { ModelDownloadError } from "./models/download-errors";
import { ManifestError } from "./models/manifest";
import { createProgressReporter } from "./models/progress-reporter";
import { modelDir, resolveModel } from "./models/registry";
import { verifyAgainstManifest, verifyModel } from "./models/verify";
import { nodeSettingsFromEnv } from "./node";
import { serve } from "./serve";
import { copyStorage } from "./storage/copy-storage";
import { createFsStorage } from "./storage/fs-storage";
import { createS3Storage, s3Client } from "./storage/s3-storage";
import { makeTinyBundle } from "./tiny/make-tiny";
import { makeStandinBundle } from "./tiny/standin";

/** Errors whose message is the whole story for the user: printed without a stack trace. */
const EXPECTED_ERRORS = [AudioError, BundleError, DeviceError, EnvError, ModelDownloadError, RangeError];

function number(name: string, { integer = false, min = -Infinity } = {}) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed)) || parsed < min) {
      throw new InvalidArgumentError(
        `${name} must be ${integer ? "a whole number" : "a number"}${min > -Infinity ? ` >= ${min}` : ""}.`,
      );
    }
    return parsed;
  };
}

interface ModelFlags {
  model?: string;
  dtype?: string;
  modelDir?: string;
  device?: string;
  threads?: number;
  cacheDir?: string;
  endpoint?: string;
}

const modelOptions = (command: Command) =>
  command
    .addOption(new Option("--model <variant>", "model variant").choices(VARIANTS))
    .addOption(new Option("--dtype <dtype>", "weights precision").choices(DTYPES))
    .option("--model-dir <dir>", "load this bundle folder as is (no download)")
    .addOption(new Option("--device <device>", "execution provider").choices(DEVICES))
    .option("--threads <n>", "ONNX Runtime threads", number("--threads", { integer: true, min: 1 }))
    .option("--cache-dir <dir>", "model cache folder")
    .option("--endpoint <url>", "Hugging Face endpoint (mirror)");

function settingsFrom(flags: ModelFlags): ModelSettings {
  const base = modelSettingsFromEnv(loadEnv());
  return {
    ...base,
    variant: (flags.model as ModelSettings["variant"] | undefined) ?? base.variant,
    dtype: (flags.dtype as ModelSettings["dtype"] | undefined) ?? base.dtype,
    device: (flags.device as ModelSettings["device"] | undefined) ?? base.device,
    modelDir: flags.modelDir ?? base.modelDir,
    threads: flags.threads ?? base.threads,
    cacheDir: flags.cacheDir ?? base.cacheDir,
    endpoint: flags.endpoint ?? base.endpoint,
  };
}

const progress = () =>
  createProgressReporter({
    tty: Boolean(process.stderr.isTTY),
    write: (chunk) => process.stderr.write(chunk),
  });

const program = new Command("tts")
  .description("Chatterbox text-to-speech on ONNX Runtime")
  .version(packageJson.version)
  .showHelpAfterError();

modelOptions(
  program
    .command("synth")
    .description("synthesize speech to a WAV file")
    .requiredOption("--text <text>", "text to speak")
    .option("--voice <wav>", "reference voice clip (WAV, any rate/channels; 5+ s of speech)")
    .requiredOption("--out <file>", "output WAV (24 kHz, 16-bit)")
    .option("--tokens-out <file>", "write the generated speech token ids (JSON array)")
    .option("--greedy", "argmax decoding (reproducible without a seed)")
    .option("--seed <n>", "sampling seed (reproducible)", number("--seed", { integer: true, min: 0 }))
    .option("--max-tokens <n>", "token limit (40 ms each)", number("--max-tokens", { integer: true, min: 1 }))
    .option("--temperature <x>", "sampling temperature", number("--temperature"))
    .option("--top-k <n>", "top-k (0 = off)", number("--top-k", { integer: true, min: 0 }))
    .option("--top-p <x>", "top-p (1 = off)", number("--top-p"))
    .option("--min-p <x>", "min-p (0 = off)", number("--min-p"))
    .option("--repetition-penalty <x>", "repetition penalty (1 = off)", number("--repetition-penalty"))
    .option("--exaggeration <x>", "emotion exaggeration (English)", number("--exaggeration"))
    .option("--cfg-weight <x>", "classifier-free guidance weight (English)", number("--cfg-weight"))
    .option("--speed <x>", "playback speed, pitch kept (0.25-4)", number("--speed")),
).action(async (flags: ModelFlags & Record<string, unknown>) => {
  if (flags.greedy && flags.seed !== undefined)
    throw new InvalidArgumentError("Use either --greedy or --seed, not both.");
  const settings = settingsFrom(flags);
  // Flag names are the schema's keys (commander camel-cases them), so the schema picks the settings out.
  const requested = generationSettingsSchema.parse(flags);
  const voice =
    typeof flags.voice === "string"
      ? { samples: prepareReferenceClip(await readFile(flags.voice)).samples }
      : undefined;
  const reporter = progress();
  const { dir } = await ensureModel(settings, (event) => reporter.onProgress(event)).finally(() =>
    reporter.stop(),
  );
  const model = await ChatterboxModel.load(dir, {
    ...loadOptions(settings),
    log: (line) => console.error(line),
  });
  const { generation, speed } = resolveSettings(model.variant, requested, {
    mode: model.guidance,
    problem: model.guidanceProblem,
  });
  const result = await model.synthesize(String(flags.text), voice, generation);
  const waveform = speed === 1 ? result.waveform : timeStretch(result.waveform, result.sampleRate, speed);
  await writeFile(String(flags.out), encodeWav(waveform, result.sampleRate));
  if (typeof flags.tokensOut === "string") await writeFile(flags.tokensOut, JSON.stringify(result.tokens));
  const seconds = waveform.length / result.sampleRate;
  const t = result.timings;
  const meanStep = t.stepMs.length ? t.stepMs.reduce((a, b) => a + b, 0) / t.stepMs.length : 0;
  console.log(
    `${model.variant} on ${model.provider}: ${result.tokens.length} tokens (${result.stopReason}), ${seconds.toFixed(2)} s of audio` +
      `${generation.sampling.greedy ? " (greedy)" : ` (seed ${generation.seed})`} -> ${String(flags.out)}\n` +
      `encoder ${t.encoderMs.toFixed(0)} ms, prefill ${t.prefillMs.toFixed(0)} ms, step ${meanStep.toFixed(1)} ms avg, ` +
      `decoder ${t.decoderMs.toFixed(0)} ms, total ${t.totalMs.toFixed(0)} ms, RTF ${seconds > 0 ? (t.totalMs / 1000 / seconds).toFixed(2) : "n/a"}`,
  );
  await model.release();
});

modelOptions(
  program
    .command("serve")
    .description("run the inference node (tRPC API, OpenAI-compatible speech, stored audio, metrics)")
    .option("--port <n>", "port (default PORT or 7860)", number("--port", { integer: true, min: 0 }))
    .option("--host <host>", "interface to bind (default HOST or 127.0.0.1)"),
).action(async (flags: ModelFlags & { port?: number; host?: string }) => {
  await serve({ model: settingsFrom(flags), port: flags.port, host: flags.host });
});

program
  .command("storage")
  .description("voices and stored audio")
  .command("copy-to-s3")
  .description(
    "copy every voice and unexpired result from DATA_DIR into S3_BUCKET (under S3_PREFIX), keeping ids and times; " +
      "safe to run again",
  )
  .action(async () => {
    const env = loadEnv();
    const settings = nodeSettingsFromEnv(env, modelSettingsFromEnv(env));
    if (!settings.s3)
      throw new EnvError("Set S3_BUCKET (and S3_PREFIX, S3_ENDPOINT as needed) to copy into.");
    const quiet = { sweepIntervalMs: 3_600_000 };
    const from = await createFsStorage({ dataDir: settings.dataDir, ...quiet });
    const to = await createS3Storage({ client: s3Client(settings.s3), ...settings.s3, ...quiet });
    try {
      const { voices, audio } = await copyStorage(from, to);
      console.log(
        `${settings.dataDir} -> s3://${settings.s3.bucket}/${settings.s3.prefix}: voices ${voices.copied} copied, ` +
          `${voices.skipped} already there; audio ${audio.copied} copied, ${audio.skipped} already there`,
      );
    } finally {
      await from.close();
      await to.close();
    }
  });

const models = program.command("models").description("download, list and verify model files");

modelOptions(
  models.command("pull").description("download the model files (resumable), verifying them against the hub"),
).action(async (flags: ModelFlags) => {
  const settings = settingsFrom(flags);
  const spec = resolveModel(settings.variant, settings.dtype);
  const dir = settings.modelDir ?? modelDir(settings.cacheDir, spec);
  const reporter = progress();
  // Files already in place are rehashed too: pull is how a file `tts models verify` flagged gets replaced.
  const result = await downloadModel(spec, {
    dir,
    endpoint: settings.endpoint,
    token: settings.hfToken,
    rehashExisting: true,
    onProgress: (event) => reporter.onProgress(event),
  }).finally(() => reporter.stop());
  const unverified = result.unverified.length
    ? ` (${result.unverified.length} without a published hash: size only)`
    : "";
  console.log(
    `${spec.repo}@${spec.revision.slice(0, 8)} (${spec.dtype}): ${result.downloaded.length} downloaded, ${result.skipped.length} already present, verified${unverified} -> ${dir}`,
  );
});

modelOptions(
  models.command("verify").description("rehash every model file against the manifest written by `pull`"),
).action(async (flags: ModelFlags) => {
  const settings = settingsFrom(flags);
  const spec = resolveModel(settings.variant, settings.dtype);
  const dir = settings.modelDir ?? modelDir(settings.cacheDir, spec);
  const report = await verifyAgainstManifest(spec, dir).catch((error: unknown) => {
    if (!(error instanceof ManifestError)) throw error;
    console.error(`tts: ${error.message} Run \`tts models pull\` to check the files again and rewrite it.`);
    process.exitCode = 1;
    return undefined;
  });
  if (!report) return;
  if (!report.manifest) {
    console.log(
      settings.modelDir
        ? "no manifest: this folder was not downloaded by tts; only presence and sizes can be checked"
        : "no manifest: this cache was made by an older tts or never completed; only presence and sizes can " +
            "be checked (`tts models pull` verifies it against the hub and writes one)",
    );
  }
  for (const file of report.files) {
    console.log(`${file.status.padEnd(9)} ${file.path}${file.detail ? `: ${file.detail}` : ""}`);
  }
  const bad = report.files.filter((file) => file.status !== "ok");
  if (bad.length > 0) {
    console.error(
      `tts: ${bad.length} of ${report.files.length} files failed verification in ${dir}: ` +
        `${bad.map((file) => file.path).join(", ")}. Run \`tts models pull\` to download them again.`,
    );
    process.exitCode = 1;
    return;
  }
  console.log(`ok: ${report.files.length} files ${report.manifest ? "verified" : "present"} in ${dir}`);
});

modelOptions(models.command("list").description("list variants and dtypes and what is in the cache")).action(
  async (flags: ModelFlags) => {
    const settings = settingsFrom(flags);
    for (const variant of VARIANTS) {
      for (const dtype of DTYPES) {
        const spec = resolveModel(variant, dtype);
        const dir = modelDir(settings.cacheDir, spec);
        const known = spec.files.every((f) => f.size !== undefined)
          ? `${(spec.files.reduce((s, f) => s + (f.size ?? 0), 0) / 1e6).toFixed(0)} MB`
          : "size unknown";
        const state = (await verifyModel(spec, dir)).ok ? "cached" : "not downloaded";
        console.log(
          `${variant.padEnd(8)} ${dtype.padEnd(6)} ${spec.repo}@${spec.revision.slice(0, 8)}  ${known.padEnd(13)} ${state}  ${dir}`,
        );
      }
    }
  },
);

models
  .command("make-tiny")
  .description("generate a tiny-random bundle with the real graph contract (for tests and development)")
  .addOption(new Option("--variant <variant>", "which contract").choices(VARIANTS).makeOptionMandatory())
  .requiredOption("--out <dir>", "output folder")
  .addOption(
    new Option("--kv-dtype <type>", "KV cache element type")
      .choices(["float32", "float16"])
      .default("float32"),
  )
  .option(
    "--stop-after <n>",
    'generated tokens before STOP, or "never"',
    // Not null for "never": commander stores a parser's null as "". The action maps "never" to null.
    (v: string) => (v === "never" ? v : number("--stop-after", { integer: true, min: 0 })(v)),
    24,
  )
  .option("--seed <n>", "weights seed", number("--seed", { integer: true, min: 0 }), 0)
  .option(
    "--no-text-positions",
    "English: leave the text-position table out of embed_tokens (an export that cannot run guidance)",
  )
  .action(
    async (flags: {
      variant: Variant;
      out: string;
      kvDtype: "float32" | "float16";
      stopAfter: number | "never";
      seed: number;
      textPositions: boolean;
    }) => {
      const bundle = await makeTinyBundle(path.resolve(flags.out), {
        variant: flags.variant,
        kvDtype: flags.kvDtype,
        stopAfter: flags.stopAfter === "never" ? null : flags.stopAfter,
        seed: flags.seed,
        textPositions: flags.textPositions,
      });
      console.log(
        `tiny-random ${flags.variant} bundle (${bundle.files.length} files, KV ${flags.kvDtype}) -> ${bundle.dir}`,
      );
    },
  );

models
  .command("make-standin")
  .description(
    "generate a full-size random stand-in bundle (published shapes and quantization; for benchmarks)",
  )
  .addOption(new Option("--variant <variant>", "which model").choices(VARIANTS).makeOptionMandatory())
  .addOption(new Option("--dtype <dtype>", "LM weights").choices(["fp32", "q4"]).default("q4"))
  .requiredOption(
    "--tokens <n>",
    "speech tokens generated before STOP",
    number("--tokens", { integer: true, min: 0 }),
  )
  .requiredOption("--out <dir>", "output folder")
  .option("--seed <n>", "weights seed", number("--seed", { integer: true, min: 0 }), 0)
  .action(
    async (flags: { variant: Variant; dtype: "fp32" | "q4"; tokens: number; out: string; seed: number }) => {
      const started = performance.now();
      const bundle = await makeStandinBundle(path.resolve(flags.out), flags);
      const bytes = bundle.files.reduce((sum, file) => sum + file.bytes, 0);
      console.log(
        `stand-in ${flags.variant} ${flags.dtype} bundle (${(bytes / 1e6).toFixed(0)} MB, ${flags.tokens} tokens, ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s) -> ${bundle.dir}`,
      );
    },
  );

program.parseAsync().catch((error: unknown) => {
  if (error instanceof ZodError) {
    console.error(`tts: invalid settings:\n${z.prettifyError(error)}`);
    process.exitCode = 2;
    return;
  }
  if (error instanceof Error && EXPECTED_ERRORS.some((type) => error instanceof type)) {
    console.error(`tts: ${error.message}`);
  } else if (error instanceof InvalidArgumentError) {
    console.error(`tts: ${error.message}`);
    process.exitCode = 2;
    return;
  } else {
    console.error(error);
  }
  process.exitCode = 1;
});
