// `pnpm bench:e2e` (and the first part of `pnpm bench`): our engine end to end on one bundle, next to the peer,
// transformers.js (@huggingface/transformers, its own ChatterboxModel over onnxruntime-node), on the same graphs
// and the same inputs, in the same run.
//
// For three fixed texts (about 5, 15 and 30 s of audio; the token limit is 25 tokens per second, 40 ms each, so a
// forced-length stand-in bundle makes exactly that much), each engine reports: per-stage time (speech encoder,
// prefill, LM steps, decoder), tokens/s of the decode loop, real-time factor, time to first audio, JS overhead
// per step (step wall minus the time inside ORT, from a wrapper around every session's `run`), and peak RSS
// (process.resourceUsage().maxRSS; each engine runs in its own child process). Greedy decoding, a fixed seed,
// the bundle's default voice (or a synthetic 6 s clip), encoded afresh in every run by both engines.
//
// Ours runs as the node runs a job: the text split into sentence chunks (splitText's defaults, as the node's),
// the token limit shared between them by length, each chunk prefilled on the voice's cached LM prefix. Two rows
// per case: "ours" streams (`onAudio`, small first windows), "ours-file" has no listener (as `tts synth`: one
// decoder run per chunk). The peer takes the whole text in one `generate` and does not stream (its first audio
// is its end). Also printed: our time to first audio with the voice already cached.
//
// Usage (from apps/inference):
//   pnpm bench:e2e [-- --bundle DIR] [--dtype q4|fp32] [--variant turbo|english] [--runs N] [--threads N]
//                  [--seconds 5,15,30] [--json FILE] [--no-peer | --peer] [--peer-speech-only]
//   --bundle DIR   a bundle laid out like the real repositories (onnx/{stage}{suffix}.onnx + .onnx_data,
//                  tokenizer.json, default_voice.wav), e.g. from `tts models make-standin`; env TTS_BENCH_BUNDLE.
//                  Without it a tiny-random bundle of --variant (default turbo) is generated (never stops: the
//                  token limit sets the length).
//   --dtype        which graphs to load (default: q4 when onnx/language_model_q4.onnx exists, else fp32).
//   --peer         install the peer if missing (npm, into <repo>/.cache/bench-peer); the default is the same but
//                  a failed install only prints why and the bench goes on. --no-peer skips it.
//   --peer-speech-only  give the peer `bad_words_ids` for every id that is not a speech code or STOP. Its
//                  Chatterbox `generate` hands every generated id to conditional_decoder, which only takes codes
//                  below 6561; our engine drops the others. Random-weight bundles (tiny English) emit such ids
//                  and then the peer fails in the decoder's Gather; real checkpoints practically never do. Off by
//                  default (it adds a logits processor to the peer's steps).
//   --json FILE    default test-results/bench-e2e.json.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { makeTinyBundle } from "../src/tiny/make-tiny";
import type { CaseInput, CaseResult, WorkerJob, WorkerReport } from "./e2e/measure";
import { ensurePeer, PEER_PACKAGE, PEER_VERSION, writePeerFolder } from "./e2e/peer-setup";

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, "..");
const repoRoot = path.resolve(appDir, "../..");
// TTS_BENCH_PEER_CACHE moves it (e.g. to try the install path afresh).
const peerCache = path.resolve(
  process.env.TTS_BENCH_PEER_CACHE ?? path.join(repoRoot, ".cache", "bench-peer"),
);

const { values: args } = parseArgs({
  // `pnpm bench:e2e -- --bundle DIR` hands the script a literal "--".
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    bundle: { type: "string" },
    dtype: { type: "string" },
    variant: { type: "string", default: "turbo" },
    runs: { type: "string", default: "1" },
    threads: { type: "string", default: "0" },
    seconds: { type: "string", default: "5,15,30" },
    json: { type: "string", default: path.join(appDir, "test-results", "bench-e2e.json") },
    peer: { type: "boolean" },
    "no-peer": { type: "boolean" },
    "peer-speech-only": { type: "boolean" },
  },
  allowPositionals: false,
});

// Fixed texts, about 2.6 words per second of speech. The token limit, not the text, sets a stand-in's length.
const TEXTS: Record<number, string> = {
  5: "The quick brown fox jumps over the lazy dog, then rests by the quiet river bank.",
  15:
    "Every morning the baker opens the shop before sunrise. She kneads the dough, shapes the loaves and " +
    "slides them into the hot oven, while the first customers wait outside, talking about the weather.",
  30:
    "The old lighthouse stood at the edge of the cliff for more than a century. Its keeper climbed the " +
    "narrow stairs every evening to light the lamp, and the beam swept across the dark water until dawn. " +
    "Ships passing in the night trusted that light to guide them safely around the rocks. When the keeper " +
    "finally retired, the town decided to keep the lamp burning, and volunteers still take turns climbing " +
    "the stairs each night.",
};

function fail(message: string): never {
  console.error(`bench:e2e: ${message}`);
  process.exit(2);
}

function wholeNumber(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be a whole number >= ${min} (got ${value})`);
  return n;
}

const runs = wholeNumber("runs", args.runs, 1);
const threads = wholeNumber("threads", args.threads, 0);
const variant =
  args.variant === "turbo" || args.variant === "english"
    ? args.variant
    : fail(`--variant must be turbo or english (got ${args.variant})`);
const cases: CaseInput[] = args.seconds.split(",").map((s) => {
  const seconds = wholeNumber("seconds", s.trim(), 1);
  const text = TEXTS[seconds] ?? `${TEXTS[30]} ${TEXTS[15]}`.slice(0, Math.max(20, seconds * 15));
  return { name: `${seconds}s`, text, maxTokens: seconds * 25 };
});

/** Runs one worker in its own process (its own peak RSS) and reads its report. */
async function runWorker(job: WorkerJob, script: string): Promise<WorkerReport> {
  const jobFile = `${job.out}.job.json`;
  writeFileSync(jobFile, JSON.stringify(job));
  let stderr = "";
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "e2e", script), jobFile], {
      cwd: appDir,
      stdio: ["ignore", "inherit", "pipe"],
    });
    child.stderr.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    child.on("error", reject);
    child.on("exit", (status, signal) => resolve(signal ? 128 : status));
  });
  if (code !== 0 || !existsSync(job.out)) {
    const cause = stderr
      .split("\n")
      .find((line) => /^\w*Error\b/.test(line.trim()))
      ?.trim();
    throw new Error(`${job.engine} worker failed (exit ${code})${cause ? `: ${cause}` : ""}`);
  }
  return JSON.parse(readFileSync(job.out, "utf8")) as WorkerReport;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Per case and engine, the median of each figure over the runs. */
function medians(results: CaseResult[]): CaseResult[] {
  const engines = [...new Set(results.map((r) => r.engine))];
  return cases.flatMap((c) =>
    engines.map((engine) => {
      const rows = results.filter((r) => r.name === c.name && r.engine === engine);
      const first = rows[0]!;
      const out: Record<string, unknown> = { ...first };
      for (const [key, value] of Object.entries(first)) {
        if (typeof value === "number" && key !== "run") {
          out[key] = median(rows.map((r) => r[key as keyof CaseResult] as number));
        }
      }
      delete out.tokenIds;
      return out as unknown as CaseResult;
    }),
  );
}

const COLUMNS: [string, (r: CaseResult) => string][] = [
  ["case", (r) => r.name],
  ["engine", (r) => r.engine],
  ["tokens", (r) => String(r.tokens)],
  ["audio s", (r) => r.audioSeconds.toFixed(2)],
  ["total ms", (r) => r.totalMs.toFixed(0)],
  ["1st audio ms", (r) => r.firstAudioMs.toFixed(0)],
  ["encoder ms", (r) => r.encoderMs.toFixed(1)],
  ["prefill ms", (r) => r.prefillMs.toFixed(1)],
  ["step ms", (r) => r.stepMs.toFixed(2)],
  ["ORT/step ms", (r) => r.stepOrtMs.toFixed(2)],
  ["JS/step ms", (r) => r.jsOverheadMs.toFixed(3)],
  ["tok/s", (r) => r.tokensPerSecond.toFixed(1)],
  ["decoder ms", (r) => `${r.decoderMs.toFixed(0)} (${r.decoderCalls}x)`],
  ["RTF", (r) => r.rtf.toFixed(3)],
  ["peak RSS MB", (r) => r.peakRssMb.toFixed(0)],
];

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row, r) =>
      [
        row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "),
        ...(r === 0 ? [widths.map((w) => "-".repeat(w)).join("  ")] : []),
      ].join("\n"),
    )
    .join("\n");
}

const RATIOS: [string, keyof CaseResult][] = [
  ["total", "totalMs"],
  ["1st audio", "firstAudioMs"],
  ["encoder", "encoderMs"],
  ["prefill", "prefillMs"],
  ["step", "stepMs"],
  ["ORT/step", "stepOrtMs"],
  ["JS/step", "jsOverheadMs"],
  ["decoder", "decoderMs"],
  ["RTF", "rtf"],
  ["peak RSS", "peakRssMb"],
];

/** One report from one engine's runs: their results together, the first run's load figures, the peak RSS. */
function mergeRuns(reports: WorkerReport[]): WorkerReport | undefined {
  const first = reports[0];
  if (!first) return undefined;
  const cached = first.cachedFirstAudioMs
    ? Object.fromEntries(
        Object.keys(first.cachedFirstAudioMs).map((name) => [
          name,
          median(reports.map((r) => r.cachedFirstAudioMs?.[name] ?? Number.NaN)),
        ]),
      )
    : undefined;
  return {
    ...first,
    peakRssMb: Math.max(...reports.map((r) => r.peakRssMb)),
    results: reports.flatMap((r) => r.results),
    ...(cached && { cachedFirstAudioMs: cached }),
  };
}

/** How far both engines' token ids agree: "all 750" or "first 37 of 750/749". */
function agreement(a: readonly number[] = [], b: readonly number[] = []): string {
  let same = 0;
  while (same < a.length && same < b.length && a[same] === b[same]) same++;
  return same === a.length && same === b.length ? `all ${same}` : `first ${same} of ${a.length}/${b.length}`;
}

function ratioRows(
  ours: CaseResult[],
  peer: CaseResult[],
  oursAll: CaseResult[],
  peerAll: CaseResult[],
): Record<string, number | string>[] {
  return ours.map((o) => {
    const p = peer.find((r) => r.name === o.name)!;
    const first = (all: CaseResult[], engine: string) =>
      all.find((r) => r.name === o.name && r.engine === engine && r.run === 0)?.tokenIds;
    return {
      case: o.name,
      ours: o.engine,
      "same tokens": agreement(first(oursAll, o.engine), first(peerAll, "peer")),
      ...Object.fromEntries(
        RATIOS.map(([label, key]) => {
          const a = o[key] as number;
          const b = p[key] as number;
          return [label, a > 0 ? b / a : Number.NaN];
        }),
      ),
    };
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), "tts-bench-e2e-"));
  try {
    let bundle = args.bundle ?? process.env.TTS_BENCH_BUNDLE;
    let bundleKind = "given";
    if (!bundle) {
      bundle = path.join(work, "tiny");
      await makeTinyBundle(bundle, { variant, stopAfter: null });
      bundleKind = `tiny-random ${variant} (generated, never stops)`;
    }
    bundle = path.resolve(bundle);
    if (!existsSync(path.join(bundle, "onnx"))) fail(`${bundle} has no onnx/ folder`);
    const dtype =
      args.dtype ?? (existsSync(path.join(bundle, "onnx", "language_model_q4.onnx")) ? "q4" : "fp32");
    if (dtype !== "q4" && dtype !== "fp32") fail(`--dtype must be q4 or fp32 (got ${dtype})`);

    console.log(
      `bench:e2e: bundle ${bundle} (${bundleKind}), dtype ${dtype}, ${runs} run(s) after one warm-up, ` +
        `threads ${threads || "ORT default"}, ${os.availableParallelism()} CPUs`,
    );

    const voiceFile = path.join(work, "voice.f32");
    const base = { bundle, dtype, threads, runs, cases, voiceFile } as const;
    // Runs alternate between the engines (ours, then the peer, then ours again...), each in a fresh process, so
    // that both see the same machine: the speed of a shared VM drifts over minutes.
    const oursRuns: WorkerReport[] = [];
    const peerRuns: WorkerReport[] = [];
    let peerStatus = "skipped (--no-peer)";
    let peerSetup: { peerDir: string; peerModule: string } | undefined;
    for (let run = 0; run < runs; run++) {
      const oursRun = await runWorker(
        { ...base, runs: 1, engine: "ours", out: path.join(work, `ours-${run}.json`) },
        "worker-ours.ts",
      );
      for (const result of oursRun.results) result.run = run;
      oursRuns.push(oursRun);
      if (run === 0 && !args["no-peer"]) {
        const availability = ensurePeer(peerCache, true, (line) => console.log(`bench:e2e: ${line}`));
        if (!availability.ok) {
          peerStatus = `not run: ${availability.reason}`;
          if (args.peer) console.error(`bench:e2e: peer requested but unavailable: ${availability.reason}`);
        } else {
          const peerDir = path.join(work, "peer", "chatterbox");
          writePeerFolder(bundle, peerDir, {
            variant: oursRun.variant!,
            layers: oursRun.kv!.layers,
            heads: oursRun.kv!.heads,
            headDim: oursRun.kv!.headDim,
            hidden: oursRun.hidden!,
          });
          peerSetup = { peerDir, peerModule: availability.module };
        }
      }
      if (!peerSetup) continue;
      try {
        const peerRun = await runWorker(
          {
            ...base,
            runs: 1,
            engine: "peer",
            out: path.join(work, `peer-${run}.json`),
            ...peerSetup,
            inputIds: oursRun.inputIds,
            variant: oursRun.variant,
            peerSpeechOnly: args["peer-speech-only"] ?? false,
          },
          "worker-peer.ts",
        );
        for (const result of peerRun.results) result.run = run;
        peerRuns.push(peerRun);
        peerStatus = "ran";
      } catch (error) {
        peerStatus = `failed: ${error instanceof Error ? error.message : String(error)}`;
        if (/out of data bounds/.test(peerStatus) && !args["peer-speech-only"]) {
          peerStatus +=
            " (its generate passed a non-speech id to conditional_decoder; --peer-speech-only bans those ids)";
        }
        peerSetup = undefined;
        peerRuns.length = 0;
      }
    }
    const ours = mergeRuns(oursRuns)!;
    const peer = mergeRuns(peerRuns);
    if (!peer)
      console.log(`bench:e2e: peer (${PEER_PACKAGE}@${PEER_VERSION}) ${peerStatus}; continuing without it`);

    const oursRows = medians(ours.results);
    const peerRows = peer ? medians(peer.results) : [];
    const rows = cases.flatMap((c) => [...oursRows, ...peerRows].filter((r) => r.name === c.name));
    console.log(
      `\nEnd to end (${ours.variant}, ${dtype}; median of ${runs} run(s); per case: ours streamed, ours to a ` +
        `file, then the peer)\n`,
    );
    console.log(table([COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => f(r)))]));
    console.log(
      `\nload: ours ${ours.loadMs.toFixed(0)} ms (RSS ${ours.loadRssMb.toFixed(0)} MB)` +
        (peer ? `, peer ${peer.loadMs.toFixed(0)} ms (RSS ${peer.loadRssMb.toFixed(0)} MB)` : ""),
    );
    if (ours.cachedFirstAudioMs) {
      const firsts = Object.entries(ours.cachedFirstAudioMs).map(([c, ms]) => `${c} ${ms.toFixed(0)} ms`);
      console.log(`ours, first audio with the voice cached: ${firsts.join(", ")}`);
    }
    const ratios = peer ? ratioRows(oursRows, peerRows, ours.results, peer.results) : [];
    if (peer) {
      console.log("\nPeer / ours (above 1: the peer takes longer or more memory)\n");
      const heads = ["case", "ours", ...RATIOS.map(([label]) => label), "same tokens"];
      console.log(
        table([
          heads,
          ...ratios.map((r) => heads.map((h) => (typeof r[h] === "number" ? r[h].toFixed(2) : String(r[h])))),
        ]),
      );
      console.log(`\npeer settings: ${JSON.stringify(peer.settings)}`);
    }
    console.log(`ours settings: ${JSON.stringify(ours.settings)}`);
    console.log(
      `voice: ${ours.voice?.source}, ${ours.voice?.seconds.toFixed(2)} s; files: ${JSON.stringify(ours.files)}`,
    );

    const json = path.resolve(args.json);
    mkdirSync(path.dirname(json), { recursive: true });
    writeFileSync(
      json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          host: {
            cpus: os.availableParallelism(),
            platform: `${os.platform()} ${os.arch()}`,
            node: process.version,
          },
          bundle: { dir: bundle, kind: bundleKind, dtype, variant: ours.variant, files: ours.files },
          cases,
          runs,
          threads,
          voice: ours.voice,
          ours: { ...ours, inputIds: undefined, medians: oursRows },
          peer: peer
            ? { status: peerStatus, ...peer, medians: peerRows, ratios }
            : { status: peerStatus, package: `${PEER_PACKAGE}@${PEER_VERSION}` },
        },
        null,
        2,
      ),
    );
    console.log(`\nJSON: ${json}`);
    // --peer asks for the comparison: without it the run counts as failed (after printing everything else).
    if (args.peer && !peer) process.exitCode = 1;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
