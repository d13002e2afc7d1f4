// `pnpm bench`: a real inference node over HTTP (in this process, on an ephemeral port), on tiny-random bundles
// made on the fly. The model is tiny, so the figures measure the node's own path (streaming decode windows,
// encoding, storage, HTTP, live readers), not a real model's speed.
//   1. One 100,000-character job through tRPC tts.synthesize: progress, audio per chunk, RSS over time, and a
//      live GET /v1/audio/{id} reader following it (first, so that its memory figures start from a fresh process).
//   2. Time to first audio vs total time of POST /v1/audio/speech, per response format and length.
// Knobs (env): BENCH_LONG_CHARS (default 100000), BENCH_STOP_AFTER (tokens per chunk of the long job, default 8),
// BENCH_JOB_TIMEOUT_S (per chunk, default 600), BENCH_SKIP ("speech" or "long").
import http from "node:http";
import { availableParallelism } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";

import { DEFAULT_STREAMING } from "../src/engine/stream-decoder";
import type { TinyBundleOptions } from "../src/tiny/make-tiny";
import { startTestNode } from "../test/support/node";

const LONG_CHARS = Number(process.env.BENCH_LONG_CHARS ?? 100_000);
const LONG_STOP_AFTER = Number(process.env.BENCH_STOP_AFTER ?? 8);
const SKIP = process.env.BENCH_SKIP ?? "";
// Per text chunk (a job's timeout is this times its chunk count, capped at the longest timer Node allows).
const JOB_TIMEOUT_S = Number(process.env.BENCH_JOB_TIMEOUT_S ?? 600);
const MB = 1024 * 1024;

/** The test suite's node, with limits for long texts and long runs (silent logs; its temp folders go on stop). */
const startNode = (bundleOptions: TinyBundleOptions) =>
  startTestNode(
    {
      maxTextLength: 200_000,
      maxSpeechInputLength: 4096,
      maxJsonBytes: 1_000_000,
      jobTimeoutSeconds: JOB_TIMEOUT_S,
      corsOrigins: [],
    },
    bundleOptions,
  );

// ---------------------------------------------------------------------------------------------------------------
// POST /v1/audio/speech

interface SpeechTiming {
  /** From sending the request to the first body bytes carrying audio samples, and to the end of the body. */
  firstAudioMs: number;
  totalMs: number;
  /** Audio bytes received (SSE: decoded from the deltas). */
  audioBytes: number;
  audioId: string;
}

type SseEvent =
  | { type: "speech.audio.delta"; audio: string }
  | { type: "speech.audio.done"; usage: { output_tokens: number } }
  | { type: "error"; error: { code: string; message: string } };

/** One speech request over node:http, timing its first audio (wav: past the 44-byte header; sse: first delta). */
function timeSpeech(url: string, body: Record<string, unknown>): Promise<SpeechTiming> {
  const sse = body.stream_format === "sse";
  const headerBytes = !sse && body.response_format === "wav" ? 44 : 0;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      `${url}/v1/audio/speech`,
      {
        method: "POST",
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            reject(new Error(`speech answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`)),
          );
          return;
        }
        let firstAudioMs = Number.NaN;
        let received = 0;
        let audioBytes = 0;
        let pending = "";
        let failure: Error | undefined;
        if (sse) res.setEncoding("utf8");
        res.on("data", (chunk: Buffer | string) => {
          const now = performance.now();
          if (!sse) {
            received += chunk.length;
            audioBytes = Math.max(0, received - headerBytes);
            if (Number.isNaN(firstAudioMs) && received > headerBytes) firstAudioMs = now - started;
            return;
          }
          pending += chunk as string;
          for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
            const line = pending.slice(0, end);
            pending = pending.slice(end + 2);
            if (!line.startsWith("data: ")) continue;
            const event = JSON.parse(line.slice(6)) as SseEvent;
            if (event.type === "speech.audio.delta") {
              if (Number.isNaN(firstAudioMs)) firstAudioMs = now - started;
              audioBytes += Buffer.from(event.audio, "base64").length;
            } else if (event.type === "error") {
              failure = new Error(`SSE error event: ${event.error.code}: ${event.error.message}`);
            }
          }
        });
        res.on("error", reject);
        res.on("close", () => {
          if (!res.complete) reject(new Error("the response was cut before its end"));
        });
        res.on("end", () => {
          if (failure) return reject(failure);
          resolve({
            firstAudioMs,
            totalMs: performance.now() - started,
            audioBytes,
            audioId: String(res.headers["x-audio-id"]),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Generated tokens bound by maxTokens (the bundle never stops); each text is one chunk, so one synthesis. */
const SIZES = [
  { input: "short", maxTokens: 50, runs: 5, text: "Hello there. This is a short one." },
  {
    input: "medium",
    maxTokens: 300,
    runs: 3,
    text: "A medium request: a sentence or two of ordinary prose, the length of a typical reply from an assistant.",
  },
  {
    input: "long",
    maxTokens: 1000,
    runs: 2,
    text:
      "A long request, close to the length of one text chunk: it keeps going with clause after clause, the way " +
      "a paragraph read aloud might, so that the model has a good deal of text to condition on and a great " +
      "many speech tokens to generate before it is done.",
  },
] as const;

const FORMATS = [
  { label: "wav", body: { response_format: "wav" } },
  { label: "pcm", body: { response_format: "pcm" } },
  { label: "mp3", body: { response_format: "mp3" } },
  { label: "sse (pcm)", body: { response_format: "pcm", stream_format: "sse" } },
] as const;

/** Every `tts_time_to_first_audio_seconds` sum and count, per `via`, from GET /metrics. */
async function firstAudioMetrics(url: string): Promise<Map<string, { sum: number; count: number }>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const series = new Map<string, { sum: number; count: number }>();
  for (const line of text.split("\n")) {
    const match = /^tts_time_to_first_audio_seconds_(sum|count)\{via="([^"]+)"\} (\S+)$/.exec(line);
    if (!match) continue;
    const [, kind, via = "", value] = match;
    const entry = series.get(via) ?? { sum: 0, count: 0 };
    entry[kind as "sum" | "count"] = Number(value);
    series.set(via, entry);
  }
  return series;
}

function printFirstAudioMetrics(series: Map<string, { sum: number; count: number }>): void {
  console.log("server's own tts_time_to_first_audio_seconds (GET /metrics):");
  console.log(`${"via".padEnd(10)}${"count".padStart(7)}${"sum s".padStart(10)}${"mean ms".padStart(10)}`);
  for (const [via, { sum, count }] of series)
    console.log(
      `${via.padEnd(10)}${String(count).padStart(7)}${sum.toFixed(3).padStart(10)}` +
        `${(count ? (sum / count) * 1000 : Number.NaN).toFixed(1).padStart(10)}`,
    );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The longest the event loop was blocked while `run` ran, in ms (the node's HTTP and encoding share it). */
async function withLoopDelay<T>(run: () => Promise<T>): Promise<{ result: T; loopMaxMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  try {
    const result = await run();
    return { result, loopMaxMs: histogram.max / 1e6 };
  } finally {
    histogram.disable();
  }
}

async function benchSpeech(): Promise<void> {
  const started = performance.now();
  const node = await startNode({ variant: "turbo", stopAfter: null });
  const { stop, url } = node;
  const client = node.client();
  try {
    console.log(
      `\nPOST /v1/audio/speech over node:http, tiny-random turbo (never stops: maxTokens sets the length), ` +
        `1 worker x 1 thread; first streamed window after ${DEFAULT_STREAMING.firstChunkTokens} + ` +
        `${DEFAULT_STREAMING.lookaheadTokens} lookahead tokens. Median of the runs shown; ` +
        `loop max = longest event-loop stall during the request (median over runs).`,
    );
    // Warm-up, untimed: the HTTP path, the encoders and the JIT.
    for (const format of FORMATS)
      await timeSpeech(url, { model: "tts-1", input: "Warm up.", maxTokens: 20, ...format.body });
    console.log(
      `${"input".padEnd(8)}${"format".padEnd(11)}${"runs".padStart(5)}${"tokens".padStart(7)}` +
        `${"audio s".padStart(9)}${"first audio ms".padStart(16)}${"total ms".padStart(10)}` +
        `${"first/total".padStart(13)}${"loop max ms".padStart(13)}`,
    );
    for (const size of SIZES) {
      const runs = new Map<
        string,
        { first: number[]; total: number[]; loop: number[]; tokens: string; audio: number }
      >();
      // Formats interleaved within each round, so that load from elsewhere on the machine spreads over all.
      for (let round = 0; round < size.runs; round++) {
        for (const format of FORMATS) {
          const { result: timing, loopMaxMs } = await withLoopDelay(() =>
            timeSpeech(url, {
              model: "tts-1",
              input: size.text,
              maxTokens: size.maxTokens,
              seed: 1,
              ...format.body,
            }),
          );
          const job = await client.tts.get.query({ id: timing.audioId });
          const entry = runs.get(format.label) ?? {
            first: [],
            total: [],
            loop: [],
            tokens: String(job.tokens ?? "?"),
            audio: job.audio?.durationSeconds ?? Number.NaN,
          };
          entry.first.push(timing.firstAudioMs);
          entry.total.push(timing.totalMs);
          entry.loop.push(loopMaxMs);
          runs.set(format.label, entry);
        }
      }
      for (const [label, entry] of runs) {
        const [first, total] = [median(entry.first), median(entry.total)];
        console.log(
          `${size.input.padEnd(8)}${label.padEnd(11)}${String(size.runs).padStart(5)}${entry.tokens.padStart(7)}` +
            `${entry.audio.toFixed(2).padStart(9)}${first.toFixed(1).padStart(16)}${total.toFixed(1).padStart(10)}` +
            `${(first / total).toFixed(3).padStart(13)}${median(entry.loop).toFixed(0).padStart(13)}`,
        );
      }
    }
    printFirstAudioMetrics(await firstAudioMetrics(url));
    console.log(
      "(every request, the warm-up included; via=job is the same requests' first audio into their job's stream)",
    );
  } finally {
    await stop();
  }
  console.log(`speech requests took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------------------------
// One 100,000-character job through tRPC

/** mulberry32: a small deterministic generator, so the long text is the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the a an of to and in that it was for on are as with his they at be this from have or by one had not but what " +
  "all were when we there can your which their said if do will each about how up out them then she many some so " +
  "these would other into has more her two like him see time could no make than first been its who now people my " +
  "made over did down only way find use may water long little very after words called just where most know get " +
  "through back much before go good new write our used me man too any day same right look think also around " +
  "another came come work three word must because does part even place well such here take why things help put " +
  "years different away again off went old number great tell men say small every found still between name should " +
  "home big give air line set own under read last never us left end along while might next sound below saw " +
  "something thought both few those always looked show large often together asked house world going want school " +
  "important until form food keep children feet land side without boy once animals life enough took sometimes " +
  "four head above kind began almost live page got earth need far hand high year mother light country father " +
  "let night picture being study second soon story since white ever paper hard near sentence better best across " +
  "during today however sure knew try told young sun thing whole hear example heard several change answer room " +
  "sea against top turned learn point city play toward five himself usually money seen car morning"
).split(" ");
const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Varied sentences (lengths, clauses, questions, numbers, quotes), paragraphs and the odd list, exactly `length` characters. */
function longText(length: number): string {
  const next = random(20_240_601);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(" ");
  const sentence = () => {
    let body = words(3 + Math.floor(next() * 12));
    const extra = next();
    if (extra < 0.35) body += `, ${words(2 + Math.floor(next() * 10))}`;
    else if (extra < 0.45) body += `; ${words(3 + Math.floor(next() * 8))}`;
    else if (extra < 0.55) body += ` in ${1900 + Math.floor(next() * 125)}`;
    else if (extra < 0.6) body += ` for ${Math.floor(next() * 1000)} of them`;
    else if (extra < 0.65) body = `"${capitalize(body)}," ${pick(["she", "he", "they"])} said`;
    return capitalize(body) + pick([".", ".", ".", ".", "?", "!"]);
  };
  const paragraphs: string[] = [];
  let total = 0;
  while (total < length) {
    const kind = next();
    const paragraph =
      kind < 0.08
        ? Array.from({ length: 3 + Math.floor(next() * 3) }, () => `- ${sentence()}`).join("\n")
        : kind < 0.12
          ? capitalize(words(2 + Math.floor(next() * 4)))
          : Array.from({ length: 1 + Math.floor(next() * 7) }, sentence).join(" ");
    paragraphs.push(paragraph);
    total += paragraph.length + 2;
  }
  const text = paragraphs
    .join("\n\n")
    .slice(0, length - 1)
    .trimEnd();
  return `${text}${".".repeat(length - text.length)}`;
}

/** Follows GET /v1/audio/{id} while the job runs, counting the bytes (not keeping them). */
function followLive(
  url: string,
  id: string,
): Promise<{ bytes: number; firstByteMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    http
      .get(`${url}/v1/audio/${id}`, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/audio answered ${res.statusCode}`));
        let bytes = 0;
        let firstByteMs = Number.NaN;
        res.on("data", (chunk: Buffer) => {
          if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - started;
          bytes += chunk.length;
        });
        res.on("error", reject);
        res.on("close", () => {
          if (!res.complete) reject(new Error(`the live reader was cut after ${bytes} bytes`));
        });
        res.on("end", () => resolve({ bytes, firstByteMs, totalMs: performance.now() - started }));
      })
      .on("error", reject);
  });
}

interface Sample {
  seconds: number;
  rss: number;
  arrayBuffers: number;
  heapUsed: number;
  chunksDone: number;
  chunks: number;
  audioSeconds: number;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const mb = (bytes: number) => (bytes / MB).toFixed(1);

async function benchLongJob(): Promise<void> {
  const text = longText(LONG_CHARS);
  const paragraphs = text.split("\n\n").length;
  const node = await startNode({ variant: "turbo", stopAfter: LONG_STOP_AFTER });
  const { stop, url } = node;
  const client = node.client();
  try {
    console.log(
      `\ntRPC tts.synthesize, ${text.length.toLocaleString("en")} characters (${paragraphs} paragraphs), format pcm, ` +
        `tiny-random turbo stopping after ${LONG_STOP_AFTER} tokens per chunk`,
    );
    const started = performance.now();
    const job = await client.tts.synthesize.mutate({ text, format: "pcm", seed: 1 });
    const live = followLive(url, job.id);
    live.catch(() => undefined); // awaited below, once the job has ended

    let progress = { chunksDone: 0, chunks: 0, audioSeconds: 0, tokens: 0 };
    let progressEvents = 0;
    const finished = new Promise<void>((resolve, reject) => {
      const subscription = client.tts.progress.subscribe(
        { id: job.id },
        {
          onData: (event) => {
            progressEvents++;
            if (event.type === "running") progress = event;
            if (event.type === "done" || event.type === "failed") {
              subscription.unsubscribe();
              if (event.type === "failed")
                reject(new Error(`the job failed: ${event.code}: ${event.reason}`));
              else resolve();
            }
          },
          onError: (error) => reject(error instanceof Error ? error : new Error(String(error))),
        },
      );
    });

    const samples: Sample[] = [];
    const sample = () => {
      const memory = process.memoryUsage();
      samples.push({
        seconds: (performance.now() - started) / 1000,
        rss: memory.rss,
        arrayBuffers: memory.arrayBuffers,
        heapUsed: memory.heapUsed,
        ...progress,
      });
    };
    sample();
    const sampler = setInterval(sample, 1000);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    try {
      await finished;
    } catch (error) {
      const reader = await live.then(
        (r) => `got ${r.bytes} bytes`,
        (e: Error) => e.message,
      );
      console.log(
        `the job did not complete (live reader: ${reader}; last progress ${JSON.stringify(progress)})`,
      );
      throw error;
    } finally {
      clearInterval(sampler);
      loop.disable();
    }
    sample();
    const totalSeconds = (performance.now() - started) / 1000;
    const reader = await live;
    const done = await client.tts.get.query({ id: job.id });

    // RSS over time: about 30 rows at most, every 5 s or a multiple of it.
    const step = Math.max(5, Math.ceil(totalSeconds / 30 / 5) * 5);
    console.log(
      `${"t s".padStart(6)}${"rss MB".padStart(9)}${"arrayBuf MB".padStart(13)}${"heap MB".padStart(9)}` +
        `${"chunks".padStart(14)}${"audio s".padStart(10)}`,
    );
    let nextRow = 0;
    for (const [index, s] of samples.entries()) {
      if (s.seconds + 0.5 < nextRow && index !== samples.length - 1) continue;
      nextRow = Math.floor((s.seconds + 0.5) / step) * step + step;
      console.log(
        `${s.seconds.toFixed(0).padStart(6)}${mb(s.rss).padStart(9)}${mb(s.arrayBuffers).padStart(13)}` +
          `${mb(s.heapUsed).padStart(9)}${`${s.chunksDone}/${s.chunks}`.padStart(14)}${s.audioSeconds.toFixed(1).padStart(10)}`,
      );
    }

    const rss = samples.map((s) => s.rss);
    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const firstQuarter = mean(rss.slice(0, quarter));
    const lastQuarter = mean(rss.slice(-quarter));
    const chunks = progress.chunks;
    const audioSeconds = done.audio?.durationSeconds ?? Number.NaN;
    const size = done.audio?.size ?? Number.NaN;
    console.log(
      `job ${done.status} in ${totalSeconds.toFixed(1)} s: ${chunks} chunks, ${done.tokens} tokens, ` +
        `${progressEvents} progress events`,
    );
    console.log(
      `audio ${audioSeconds.toFixed(1)} s = ${(audioSeconds / chunks).toFixed(3)} s per chunk ` +
        `(${(totalSeconds / chunks).toFixed(3)} s of synthesis per chunk, ${(audioSeconds / totalSeconds).toFixed(1)}x real time)`,
    );
    console.log(
      `stored file ${size.toLocaleString("en")} bytes (${mb(size)} MB); live reader got ` +
        `${reader.bytes.toLocaleString("en")} bytes (${reader.bytes === size ? "same" : "DIFFERENT"}), ` +
        `first byte after ${reader.firstByteMs.toFixed(0)} ms`,
    );
    console.log(
      `RSS over ${samples.length} samples: min ${mb(Math.min(...rss))} MB, max ${mb(Math.max(...rss))} MB, ` +
        `max - min ${mb(Math.max(...rss) - Math.min(...rss))} MB; first quarter avg ${mb(firstQuarter)} MB, ` +
        `last quarter avg ${mb(lastQuarter)} MB (${lastQuarter >= firstQuarter ? "+" : ""}${mb(lastQuarter - firstQuarter)} MB)`,
    );
    const steady = samples.filter((s) => s.seconds >= 10).map((s) => s.rss);
    if (steady.length > 1)
      console.log(
        `RSS from 10 s on (past the warm-up of sessions and buffers): min ${mb(Math.min(...steady))} MB, ` +
          `max ${mb(Math.max(...steady))} MB, last ${mb(steady.at(-1)!)} MB`,
      );
    console.log(
      `event loop during the job: p50 ${(loop.percentile(50) / 1e6).toFixed(0)} ms, ` +
        `p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms, max ${(loop.max / 1e6).toFixed(0)} ms`,
    );
    printFirstAudioMetrics(await firstAudioMetrics(url));
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  console.log(`Node ${process.version}, ${availableParallelism()} cores`);
  // The long job first, so that its memory figures start from a fresh process.
  if (SKIP !== "long") await benchLongJob();
  if (SKIP !== "speech") await benchSpeech();
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
}

await main();
