// Property-based fuzzing (fast-check) of everything a client can send: every tRPC procedure's input over real
// HTTP (as a GET query, a POST body, a batch, or garbage in the input slot), the /v1/audio/speech JSON body, and
// WAV uploads to voices.create (valid files with random headers and formats, truncated, corrupted, random bytes).
// Inputs are both arbitrary JSON and near-valid values (valid requests with one to three mutations).
// Properties: never a 5xx (501 "format unavailable" aside), a 4xx is JSON whose error names the problem, a 429
// carries a finite Retry-After, and the node stays healthy. Counts per schema are printed (and kept in the
// figures file). A failing case prints its seed; rerun it with FC_SEED=<seed>.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AUDIO_FORMATS, VARIANTS } from "@tts/api";
import { encodeWav } from "@tts/audio";

import { syntheticVoice } from "../../src/engine/synthetic-voice";
import { BUILT_IN_VOICES, OPENAI_SPEECH_MODELS } from "../../src/http/openai-compat";
import { startTestNode, type TestNode } from "../support/node";
import {
  byProfile,
  capturingLogger,
  checkWav,
  errorMessage,
  expectHealthy,
  Http,
  metric,
  PROFILE,
  report,
  trpcData,
  trpcQuery,
  waitFor,
  type Reply,
} from "./support";

/** Cases per schema: at least 1,000 in CI. */
const RUNS = byProfile(1_000, 5_000);
/** Valid syntheses run to the end (each one is a real synthesis, so fewer). */
const COMPLETION_RUNS = byProfile(15, 400);
const WAV_RUNS = byProfile(1_000, 5_000);
/** Requests in flight at once (FUZZ_CONCURRENCY; the node's own limit on bodies being read is far above it). */
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 6);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;

let t: TestNode;
let http: Http;
const { logger, errors } = capturingLogger();
const counts: {
  schema: string;
  cases: number;
  statuses: Map<number, number>;
  ms: number;
  seed: number;
  failed: boolean;
}[] = [];

/** Ids that exist on the node (voices, finished jobs), so near-valid inputs reach the success paths too. */
const known = { voices: [] as string[], jobs: [] as string[] };

// ---------------------------------------------------------------------------------------------------------------
// Requests and the property every answer must satisfy

interface Spec {
  method: string;
  target: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const describeSpec = (spec: Spec) =>
  `${spec.method} ${spec.target.slice(0, 400)}${
    spec.body === undefined
      ? ""
      : ` body ${
          typeof spec.body === "string"
            ? JSON.stringify(spec.body.slice(0, 400))
            : `${spec.body.length} bytes ${JSON.stringify(Buffer.from(spec.body.subarray(0, 300)).toString("latin1"))}`
        }`
  }`;

/** Statuses a client may see; anything else (a 5xx above all) fails the property. */
const ACCEPTED = new Set([200, 207, 400, 403, 404, 405, 413, 415, 422, 429, 501]);

function expectSane(spec: Spec, reply: Reply): void {
  const where = `${describeSpec(spec)}\n  -> ${reply.status} ${reply.text.slice(0, 600)}`;
  if (!ACCEPTED.has(reply.status)) throw new Error(`unexpected status: ${where}`);
  const type = String(reply.headers["content-type"] ?? "");
  if (reply.status >= 400) {
    if (reply.json === undefined) throw new Error(`a ${reply.status} that is not JSON: ${where}`);
    // A batch answers with one result or error per call.
    const answers = Array.isArray(reply.json) ? (reply.json as unknown[]) : [reply.json];
    for (const answer of answers) {
      if (typeof answer === "object" && answer !== null && "result" in answer) continue;
      if (!/\S/.test(errorMessage(answer) ?? "")) throw new Error(`an error without a message: ${where}`);
    }
  } else if (type.startsWith("application/json") && reply.json === undefined) {
    throw new Error(`a JSON 200 that does not parse: ${where}`);
  }
  if (reply.status === 429) {
    const retry = Number(reply.headers["retry-after"]);
    if (!(Number.isFinite(retry) && retry >= 1))
      throw new Error(`a 429 without a usable Retry-After: ${where}`);
  }
  // tRPC reports a failure inside a 200 (SSE) or 207 (batch) too: none of those may be internal either, by status
  // or by code (a client branches on the code: INTERNAL_SERVER_ERROR tells it the server broke, not its request).
  for (const { httpStatus, code } of nestedErrors(reply)) {
    if ((httpStatus >= 500 && httpStatus !== 501) || code === "INTERNAL_SERVER_ERROR")
      throw new Error(`an internal error inside the answer (${code}, ${httpStatus}): ${where}`);
  }
}

/** `data` of every tRPC error shape in a batch answer or an SSE stream. */
function nestedErrors(reply: Reply): { httpStatus: number; code: string }[] {
  const found: { httpStatus: number; code: string }[] = [];
  const take = (data: { httpStatus?: unknown; code?: unknown } | undefined) => {
    if (typeof data?.httpStatus === "number")
      found.push({ httpStatus: data.httpStatus, code: String(data.code) });
  };
  const visit = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(visit);
    take((value as { error?: { data?: { httpStatus?: unknown; code?: unknown } } } | null)?.error?.data);
  };
  visit(reply.json);
  if (String(reply.headers["content-type"]).startsWith("text/event-stream")) {
    for (const line of reply.text.split("\n")) {
      if (!line.startsWith("data: ")) continue;
      try {
        take((JSON.parse(line.slice(6)) as { data?: { httpStatus?: unknown; code?: unknown } }).data);
      } catch {
        // not every event is JSON
      }
    }
  }
  return found;
}

async function send(spec: Spec): Promise<Reply> {
  return http.request(spec.method, spec.target, {
    headers: spec.headers,
    body: spec.body,
    timeoutMs: 30_000,
  });
}

/**
 * Runs `numRuns` cases of `specs` against the node, `concurrency` at a time (keep-alive connections), counting
 * statuses, then checks that the node is healthy. Cases are drawn with fast-check from a seed printed on failure
 * (FC_SEED=<seed> replays them); there is no shrinking: the failing request is printed whole instead.
 */
async function fuzz(
  schema: string,
  specs: fc.Arbitrary<Spec>,
  options: {
    numRuns?: number;
    concurrency?: number;
    extra?: (spec: Spec, reply: Reply) => Promise<void> | void;
    synthesize?: boolean;
  } = {},
) {
  const seed = SEED ?? Math.floor(Math.random() * 2 ** 31);
  const numRuns = options.numRuns ?? RUNS;
  // Drawn a batch at a time, as they are sent: drawing thousands up front would block the event loop for seconds,
  // long enough for the server to close idle keep-alive connections under the client's feet.
  const BATCH = 25;
  const batches = new Map<number, Spec[]>();
  const draw = (index: number): Spec => {
    const batch = Math.floor(index / BATCH);
    let specsOfBatch = batches.get(batch);
    if (!specsOfBatch) {
      specsOfBatch = fc.sample(specs, { numRuns: BATCH, seed: seed + batch });
      for (const key of batches.keys()) if (key < batch - 1) batches.delete(key);
      batches.set(batch, specsOfBatch);
    }
    return specsOfBatch[index % BATCH]!;
  };
  const statuses = new Map<number, number>();
  const started = performance.now();
  let next = 0;
  let done = 0;
  let failure: Error | undefined;
  const worker = async () => {
    while (!failure && next < numRuns) {
      const index = next++;
      const spec = draw(index);
      try {
        const reply = await send(spec);
        expectSane(spec, reply);
        await options.extra?.(spec, reply);
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        done++;
      } catch (error) {
        failure ??= new Error(
          `${schema}: case ${index} of ${numRuns} failed (replay: FC_SEED=${seed}): ${(error as Error).message}\n` +
            `  request: ${describeSpec(spec)}${spec.headers ? ` headers ${JSON.stringify(spec.headers)}` : ""}`,
          { cause: error },
        );
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? CONCURRENCY }, worker));
  counts.push({
    schema,
    cases: done,
    statuses,
    ms: performance.now() - started,
    seed,
    failed: failure !== undefined,
  });
  if (failure) throw failure;
  if (options.synthesize === false) {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await http.get("/trpc/health")).status).toBe(200);
  } else {
    await expectHealthy(t.url, `fuzzing ${schema}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Values: arbitrary JSON, odd strings and numbers, and near-valid mutations of valid inputs

const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\ud800",
    "\u200b",
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%00",
    "tts_aaaaaaaa",
    "voice_aaaaaaaa",
    "__proto__",
    "constructor",
    "a".repeat(301),
    "x".repeat(5_000),
    "<script>alert(1)</script>",
    "'; DROP TABLE jobs; --",
    "${process.exit()}",
  ),
);

const oddNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.25,
    0.2499,
    4,
    4.0001,
    4000,
    4001,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    1e308,
    -1e308,
    5e-324,
  ),
);

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: oddString },
  { weight: 2, arbitrary: oddNumber },
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 4 }),
);

type Mutation =
  | { op: "drop"; key: string }
  | { op: "set"; key: string; value: unknown }
  | { op: "add"; key: string; value: unknown }
  | { op: "replace"; value: unknown };

/** A valid value with one to three mutations: a key dropped, a value replaced, a key added, or the whole replaced. */
function nearValid(
  valid: fc.Arbitrary<Record<string, unknown>>,
  keys: readonly string[],
): fc.Arbitrary<unknown> {
  const key = fc.constantFrom(...keys);
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 2, arbitrary: fc.record({ op: fc.constant("drop" as const), key }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant("set" as const), key, value: anyValue }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("add" as const),
        key: fc.oneof(fc.string(), fc.constantFrom("__proto__", "constructor", "prototype", "toString")),
        value: anyValue,
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("replace" as const), value: anyValue }) },
  );
  return fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([value, mutations]) => {
    let out: unknown = { ...value };
    for (const m of mutations) {
      if (m.op === "replace") out = m.value;
      else if (typeof out === "object" && out !== null && !Array.isArray(out)) {
        const copy = { ...(out as Record<string, unknown>) };
        if (m.op === "drop") delete copy[m.key];
        else
          Object.defineProperty(copy, m.key, {
            value: m.value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        out = copy;
      }
    }
    return out;
  });
}

/** Valid inputs, near-valid ones and arbitrary JSON, in that proportion. */
const inputs = (valid: fc.Arbitrary<Record<string, unknown>>, keys: readonly string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 5, arbitrary: nearValid(valid, keys) },
    { weight: 2, arbitrary: anyValue },
  );

const id = (prefix: "tts" | "voice", pool: () => string[]) =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.nat().map((i) => pool()[i % Math.max(1, pool().length)] ?? `${prefix}_missing0`),
    },
    {
      weight: 2,
      arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/).map((s) => s),
    },
    { weight: 1, arbitrary: fc.constantFrom(`${prefix}_doesnotexist0`, `${prefix}_${"a".repeat(60)}`) },
    { weight: 1, arbitrary: oddString },
  );
const jobId = id("tts", () => known.jobs);
const voiceId = id("voice", () => known.voices);

const settings = {
  seed: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff)),
  greedy: fc.boolean(),
  maxTokens: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1, 4000)),
  temperature: fc.oneof(fc.double({ min: 0.01, max: 5, noNaN: true }), fc.constant(5)),
  topK: fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.constantFrom(0, 1, 2 ** 31)),
  topP: fc.oneof(fc.double({ min: 0.001, max: 1, noNaN: true }), fc.constant(1)),
  minP: fc.oneof(fc.double({ min: 0, max: 0.999, noNaN: true }), fc.constant(0)),
  repetitionPenalty: fc.oneof(fc.double({ min: 0.001, max: 10, noNaN: true }), fc.constant(10)),
  exaggeration: fc.double({ min: 0, max: 2, noNaN: true }),
  cfgWeight: fc.double({ min: 0, max: 5, noNaN: true }),
  speed: fc.oneof(fc.double({ min: 0.25, max: 4, noNaN: true }), fc.constantFrom(0.25, 4)),
};
const SETTING_KEYS = Object.keys(settings);
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom("Hello.", "a".repeat(300), "a".repeat(301), " ", "\u200b") },
);
const format = fc.constantFrom(...AUDIO_FORMATS);

const synthesizeValid = fc.record(
  { text, voiceId: fc.oneof(voiceId, fc.constant(null)), format, ...settings },
  { requiredKeys: ["text"] },
);
const speechValid = fc.record(
  {
    model: fc.oneof(
      fc.constantFrom(...OPENAI_SPEECH_MODELS, ...VARIANTS.map((v) => `chatterbox-${v}`)),
      fc.string({ maxLength: 20 }),
    ),
    input: text,
    voice: fc.oneof(
      fc.constantFrom(...BUILT_IN_VOICES, "default", "ALLOY"),
      voiceId,
      voiceId.map((v) => ({ id: v })),
    ),
    response_format: format,
    stream_format: fc.constantFrom("audio", "sse"),
    instructions: fc.oneof(fc.constantFrom("calm", "Be dramatic!", ""), fc.string({ maxLength: 40 })),
    max_tokens: settings.maxTokens,
    cfg_weight: settings.cfgWeight,
    top_k: settings.topK,
    top_p: settings.topP,
    min_p: settings.minP,
    repetition_penalty: settings.repetitionPenalty,
    ...settings,
  },
  { requiredKeys: ["model", "input"] },
);

// ---------------------------------------------------------------------------------------------------------------
// Transports: how an input reaches a procedure

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "",
  "multipart/form-data",
];
const garbage = fc.oneof(fc.string(), fc.constantFrom("{", "[", "%", "%zz", "null", "undefined", '{"0":'));

/** A query procedure called the ways clients (and broken clients) call it. */
function querySpecs(procedure: string, input: fc.Arbitrary<unknown>): fc.Arbitrary<Spec> {
  return fc.oneof(
    { weight: 6, arbitrary: input.map((value) => ({ method: "GET", target: trpcQuery(procedure, value) })) },
    {
      weight: 1,
      arbitrary: garbage.map((raw) => ({
        method: "GET",
        target: `/trpc/${procedure}?input=${encodeURIComponent(raw)}`,
      })),
    },
    {
      weight: 1,
      arbitrary: input.map((value) => ({
        method: "GET",
        target: `/trpc/${procedure},${procedure}?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: value, 1: value }))}`,
      })),
    },
    {
      weight: 1,
      arbitrary: input.map((value) => ({
        method: "POST",
        target: `/trpc/${procedure}`,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(value) ?? "",
      })),
    },
  );
}

/** A mutation called with a JSON body (or garbage, another content type, a batch, or the wrong method). */
function mutationSpecs(procedure: string, input: fc.Arbitrary<unknown>): fc.Arbitrary<Spec> {
  const post = (body: string, contentType = "application/json", target = `/trpc/${procedure}`): Spec => ({
    method: "POST",
    target,
    headers: contentType ? { "Content-Type": contentType } : {},
    body,
  });
  return fc.oneof(
    { weight: 6, arbitrary: input.map((value) => post(JSON.stringify(value) ?? "")) },
    {
      weight: 1,
      arbitrary: fc.tuple(garbage, fc.constantFrom(...CONTENT_TYPES)).map(([raw, type]) => post(raw, type)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(input, fc.constantFrom(...CONTENT_TYPES))
        .map(([value, type]) => post(JSON.stringify(value) ?? "", type)),
    },
    {
      weight: 1,
      arbitrary: input.map((value) =>
        post(JSON.stringify({ 0: value }), "application/json", `/trpc/${procedure}?batch=1`),
      ),
    },
    { weight: 1, arbitrary: input.map((value) => ({ method: "GET", target: trpcQuery(procedure, value) })) },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// WAV files

interface WavSpec {
  tag: number;
  subTag: number;
  channels: number;
  sampleRate: number;
  bits: number;
  blockAlign: "right" | "zero" | number;
  seconds: number;
  signal: "noise" | "sine" | "silence" | "clipped";
  fmtSize: number;
  extra: { id: string; size: number }[];
  dataSize: "right" | "streaming" | "bigger" | "smaller" | "zero" | "odd";
  riffSize: "right" | "zero" | "huge" | "random";
  cut: number | null;
  flips: { at: number; byte: number }[];
  /** Cap on the sample bytes written, whatever the header claims (keeps the generator cheap). */
  maxBytes?: number;
}

const wavSpec: fc.Arbitrary<WavSpec> = fc.record({
  tag: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(1, 3, 0xfffe) }, fc.integer({ min: 0, max: 0xffff })),
  subTag: fc.constantFrom(1, 3, 2, 0x55, 0),
  channels: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) },
    fc.constantFrom(0, 64, 65, 0xffff),
  ),
  sampleRate: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(1_000, 4_000, 8_000, 11_025, 16_000) },
    fc.constantFrom(0, 999, 768_000, 768_001, 0xffffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
  bits: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(8, 16, 24, 32, 64) },
    fc.integer({ min: 0, max: 0xffff }),
  ),
  blockAlign: fc.oneof(
    { weight: 6, arbitrary: fc.constant("right" as const) },
    fc.constant("zero" as const),
    fc.integer({ min: 0, max: 0xffff }),
  ),
  seconds: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 4.5, max: 7, noNaN: true })),
  signal: fc.constantFrom("noise", "sine", "silence", "clipped"),
  fmtSize: fc.oneof({ weight: 6, arbitrary: fc.constant(16) }, fc.constantFrom(0, 14, 18, 40, 1_000)),
  extra: fc.array(
    fc.record({ id: fc.constantFrom("LIST", "fact", "JUNK", "bext", "fmt ", "\0\0\0\0"), size: fc.nat(70) }),
    {
      maxLength: 2,
    },
  ),
  dataSize: fc.oneof(
    { weight: 6, arbitrary: fc.constant("right" as const) },
    fc.constantFrom("streaming", "bigger", "smaller", "zero", "odd"),
  ),
  riffSize: fc.oneof(
    { weight: 6, arbitrary: fc.constant("right" as const) },
    fc.constantFrom("zero", "huge", "random"),
  ),
  cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 6 }),
  flips: fc.array(
    fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 0, max: 255 }) }),
    {
      maxLength: 3,
    },
  ),
});

/** WAVs that are right in every field (any encoding, rate and length): the success path, and its edges. */
const cleanWavSpec: fc.Arbitrary<WavSpec> = fc
  .record({
    encoding: fc.constantFrom<[number, number]>(
      [1, 8],
      [1, 16],
      [1, 24],
      [1, 32],
      [3, 32],
      [3, 64],
      [0xfffe, 16],
      [0xfffe, 32],
    ),
    channels: fc.integer({ min: 1, max: 2 }),
    sampleRate: fc.constantFrom(1_000, 4_000, 8_000, 11_025),
    seconds: fc.double({ min: 5.5, max: 6.5, noNaN: true }),
    signal: fc.constantFrom("noise" as const, "sine" as const),
    fmtSize: fc.constantFrom(16, 18, 40),
    extra: fc.array(fc.record({ id: fc.constantFrom("LIST", "fact", "JUNK"), size: fc.nat(70) }), {
      maxLength: 2,
    }),
    dataSize: fc.constantFrom("right" as const, "streaming" as const),
  })
  .map(({ encoding: [tag, bits], ...rest }) => ({
    ...rest,
    tag,
    subTag: bits === 64 || (tag === 0xfffe && bits === 32) ? 3 : 1,
    bits,
    blockAlign: "right" as const,
    riffSize: "right" as const,
    cut: null,
    flips: [],
    fmtSize: tag === 0xfffe ? 40 : rest.fmtSize,
    maxBytes: 1_200_000,
  }));

/** Writes a WAV as `spec` describes it: right where the spec says so, wrong where it does not. */
function buildWav(spec: WavSpec): Uint8Array {
  const width = [8, 16, 24, 32, 64].includes(spec.bits) ? spec.bits / 8 : 2;
  const channels = Math.min(spec.channels, 4) || 1;
  const rate = spec.sampleRate >= 1_000 && spec.sampleRate <= 48_000 ? spec.sampleRate : 8_000;
  const frames = Math.min(
    Math.floor(spec.seconds * rate),
    Math.floor((spec.maxBytes ?? 150_000) / (width * channels)),
  );
  const data = Buffer.alloc(frames * width * channels);
  const float = spec.tag === 3 || (spec.tag === 0xfffe && spec.subTag === 3);
  let seed = frames + spec.bits;
  for (let i = 0; i < frames * channels; i++) {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0;
    const noise = seed / 2 ** 31 - 1;
    const x =
      spec.signal === "silence"
        ? 0
        : spec.signal === "clipped"
          ? Math.sign(noise || 1)
          : spec.signal === "sine"
            ? 0.5 * Math.sin((2 * Math.PI * 220 * Math.floor(i / channels)) / rate)
            : 0.3 * noise;
    const at = i * width;
    if (float && width === 4) data.writeFloatLE(x, at);
    else if (float && width === 8) data.writeDoubleLE(x, at);
    else if (width === 1) data.writeUInt8(Math.round(127.5 + 127 * x), at);
    else if (width === 2) data.writeInt16LE(Math.round(32_767 * x), at);
    else if (width === 3) data.writeIntLE(Math.round(8_388_607 * x), at, 3);
    else if (width === 4) data.writeInt32LE(Math.round(2_147_483_647 * x), at);
    else data.writeDoubleLE(x, at);
  }
  const fmt = Buffer.alloc(Math.max(spec.fmtSize, 16));
  fmt.writeUInt16LE(spec.tag, 0);
  fmt.writeUInt16LE(spec.channels, 2);
  fmt.writeUInt32LE(spec.sampleRate, 4);
  const blockAlign =
    spec.blockAlign === "right"
      ? (spec.channels * spec.bits) / 8
      : spec.blockAlign === "zero"
        ? 0
        : spec.blockAlign;
  fmt.writeUInt32LE(Math.min(0xffffffff, Math.max(0, Math.floor(spec.sampleRate * blockAlign))) >>> 0, 8);
  fmt.writeUInt16LE(Math.max(0, Math.min(0xffff, Math.floor(blockAlign))), 12);
  fmt.writeUInt16LE(spec.bits, 14);
  if (fmt.length >= 40) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(spec.bits, 18);
    fmt.writeUInt16LE(spec.subTag, 24);
  }
  const chunk = (id: string, body: Buffer, declared = body.length) => {
    const head = Buffer.alloc(8);
    head.write(id.padEnd(4).slice(0, 4), 0, "latin1");
    head.writeUInt32LE(declared >>> 0, 4);
    return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const declaredData = {
    right: data.length,
    streaming: 0xffffffff,
    bigger: data.length + 1_000,
    smaller: Math.max(0, data.length - 3),
    zero: 0,
    odd: data.length | 1,
  }[spec.dataSize];
  const body = Buffer.concat([
    Buffer.from("WAVE"),
    chunk("fmt ", fmt.subarray(0, spec.fmtSize), spec.fmtSize),
    ...spec.extra.map((e) => chunk(e.id, Buffer.alloc(e.size, 0x41))),
    chunk("data", data, declaredData),
  ]);
  const riff = Buffer.alloc(8);
  riff.write("RIFF", 0, "latin1");
  riff.writeUInt32LE(
    { right: body.length, zero: 0, huge: 0xffffffff, random: (body.length * 7919) >>> 0 }[spec.riffSize] >>>
      0,
    4,
  );
  let bytes = Buffer.concat([riff, body]);
  if (spec.cut !== null) bytes = bytes.subarray(0, Math.floor(bytes.length * spec.cut));
  for (const flip of spec.flips)
    if (bytes.length > 0) bytes[Math.floor(flip.at * (bytes.length - 1))] = flip.byte;
  return bytes;
}

/** A multipart/form-data body by hand, so that broken ones can be sent too. */
function multipartBody(
  parts: { name: string; filename?: string; type?: string; value: Uint8Array | string }[],
) {
  const boundary = "----fuzz7MA4YWxkTrZu0gW";
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${
          part.filename === undefined ? "" : `; filename="${part.filename}"`
        }\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ""}\r\n`,
      ),
      Buffer.from(part.value),
      Buffer.from("\r\n"),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: new Uint8Array(Buffer.concat(chunks)),
  };
}

const voiceName = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.constantFrom("", "   ", "a".repeat(100), "a".repeat(101), "../../etc/passwd", "\u0000"),
);

const uploadSpecs: fc.Arbitrary<Spec> = fc.oneof(
  // A generated WAV, named or not.
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.oneof({ weight: 9, arbitrary: wavSpec }, { weight: 1, arbitrary: cleanWavSpec }),
        fc.option(voiceName),
      )
      .map(([spec, name]) => {
        const form = multipartBody([
          ...(name === null ? [] : [{ name: "name", value: name }]),
          { name: "file", filename: "voice.wav", type: "audio/wav", value: buildWav(spec) },
        ]);
        return {
          method: "POST",
          target: "/trpc/voices.create",
          headers: { "Content-Type": form.contentType },
          body: form.body,
        };
      }),
  },
  // Random bytes as the file.
  {
    weight: 2,
    arbitrary: fc.uint8Array({ maxLength: 4_096 }).map((bytes) => {
      const form = multipartBody([{ name: "file", filename: "x.wav", value: bytes }]);
      return {
        method: "POST",
        target: "/trpc/voices.create",
        headers: { "Content-Type": form.contentType },
        body: form.body,
      };
    }),
  },
  // Broken forms: no file, the file as a plain field, two files, a broken boundary, the wrong content type.
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          "no-file",
          "file-as-text",
          "two-files",
          "bad-boundary",
          "json",
          "none",
          "truncated-form",
        ),
        wavSpec,
      )
      .map(([kind, spec]): Spec => {
        const wav = buildWav(spec);
        const target = "/trpc/voices.create";
        if (kind === "json")
          return {
            method: "POST",
            target,
            headers: { "Content-Type": "application/json" },
            body: '{"file":"x"}',
          };
        if (kind === "none") return { method: "POST", target, body: wav };
        const form = multipartBody(
          kind === "no-file"
            ? [{ name: "name", value: "x" }]
            : kind === "file-as-text"
              ? [{ name: "file", value: "not a file" }]
              : [
                  { name: "file", filename: "a.wav", value: wav },
                  { name: "file", filename: "b.wav", value: wav },
                ],
        );
        const headers = {
          "Content-Type": kind === "bad-boundary" ? "multipart/form-data; boundary=other" : form.contentType,
        };
        const body = kind === "truncated-form" ? form.body.subarray(0, form.body.length >> 1) : form.body;
        return { method: "POST", target, headers, body };
      }),
  },
);

// ---------------------------------------------------------------------------------------------------------------

beforeAll(async () => {
  // One worker and one queue slot: the synthesis fuzz runs with the queue held full (see "admission" below).
  t = await startTestNode(
    { queueSize: 1, maxTextLength: 100_000, maxSpeechInputLength: 300 },
    { variant: "turbo", stopAfter: 12 },
    logger,
  );
  http = new Http(t.url);
  for (let i = 0; i < 3; i++) {
    const form = multipartBody([
      { name: "name", value: `Fuzz ${i}` },
      {
        name: "file",
        filename: "v.wav",
        type: "audio/wav",
        value: encodeWav(syntheticVoice(i + 1, 7), 24_000),
      },
    ]);
    const voice = trpcData<{ id: string }>(
      await http.request("POST", "/trpc/voices.create", {
        headers: { "Content-Type": form.contentType },
        body: form.body,
      }),
    );
    known.voices.push(voice.id);
  }
  for (let i = 0; i < 3; i++) {
    const job = trpcData<{ id: string }>(
      await http.postJson("/trpc/tts.synthesize", { text: `Job ${i}.`, maxTokens: 4 }),
    );
    await waitFor(
      `job ${job.id}`,
      async () => trpcData<{ status: string }>(await http.get(trpcQuery("tts.get", { id: job.id }))).status,
      (status) => status === "done",
    );
    known.jobs.push(job.id);
  }
});

afterAll(async () => {
  if (counts.length > 0) {
    report(
      "fuzz",
      `cases per schema (fast-check, ${PROFILE} profile)`,
      counts.map(({ schema, cases, statuses, ms, seed, failed }) => ({
        name: schema,
        value: cases,
        unit: `cases${failed ? " passed, then one FAILED (see the error)" : ""} in ${(ms / 1000).toFixed(1)} s, seed ${seed} (${[
          ...statuses.entries(),
        ]
          .sort(([a], [b]) => a - b)
          .map(([status, n]) => `${status}: ${n}`)
          .join(", ")})`,
      })),
    );
  }
  if (errors.length > 0) console.log("error-level log lines:", JSON.stringify(errors.slice(0, 20), null, 2));
  await http?.close();
  await t?.stop();
});

describe("fuzzing every tRPC procedure over HTTP", () => {
  it("health and the lists (inputs they ignore or bound)", async () => {
    await fuzz("health", querySpecs("health", anyValue));
    await fuzz("voices.list", querySpecs("voices.list", anyValue));
    await fuzz(
      "tts.list",
      querySpecs(
        "tts.list",
        inputs(fc.record({ limit: fc.oneof(fc.integer({ min: 1, max: 200 }), oddNumber) }), ["limit"]),
      ),
    );
  });

  it("get and rename by id", async () => {
    await fuzz("tts.get", querySpecs("tts.get", inputs(fc.record({ id: jobId }), ["id"])));
    await fuzz("voices.get", querySpecs("voices.get", inputs(fc.record({ id: voiceId }), ["id"])));
    await fuzz(
      "voices.rename",
      mutationSpecs("voices.rename", inputs(fc.record({ id: voiceId, name: voiceName }), ["id", "name"])),
    );
  });

  it("tts.progress (a subscription) by id", async () => {
    // A subscription: answered as SSE (200) whose events end in done, failed or a serialized error.
    await fuzz("tts.progress", querySpecs("tts.progress", inputs(fc.record({ id: jobId }), ["id"])), {
      extra: (spec, reply) => {
        if (reply.status === 200 && String(reply.headers["content-type"]).startsWith("text/event-stream")) {
          const ended = /"type":"(done|failed)"|event: serialized-error|event: return/.test(reply.text);
          if (!ended)
            throw new Error(
              `a progress stream that never ended: ${describeSpec(spec)}\n${reply.text.slice(0, 400)}`,
            );
          if (/serialized-error/.test(reply.text) && !/"message":"[^"]/.test(reply.text))
            throw new Error(`a progress error without a message: ${reply.text.slice(0, 400)}`);
        }
      },
    });
  });

  it("voices.create: generated WAVs (every format, lying headers, truncated, corrupted), random bytes, broken forms", async () => {
    let accepted = 0;
    await fuzz("voices.create (WAV uploads)", uploadSpecs, {
      numRuns: WAV_RUNS,
      extra: async (_spec, reply) => {
        if (reply.status !== 200) return;
        accepted++;
        // Accepted voices are removed again, so the per-key quota never turns the rest into 403s.
        const { id } = (reply.json as { result: { data: { id: string } } }).result.data;
        expect((await http.postJson("/trpc/voices.delete", { id })).status).toBe(200);
      },
    });
    // The generator must reach the success path, or the fuzz only ever tests refusals.
    expect(accepted).toBeGreaterThan(0);
  });

  it("deletes by id (last: they remove what the other cases use)", async () => {
    await fuzz("tts.delete", mutationSpecs("tts.delete", inputs(fc.record({ id: jobId }), ["id"])));
    await fuzz("voices.delete", mutationSpecs("voices.delete", inputs(fc.record({ id: voiceId }), ["id"])));
  });
});

describe("fuzzing syntheses", () => {
  it("valid settings of every kind synthesize to the end: a 200 whose audio is whole, and stored intact", async () => {
    // A voice of its own: the delete fuzz above removed the shared ones.
    const form = multipartBody([
      { name: "file", filename: "v.wav", type: "audio/wav", value: encodeWav(syntheticVoice(9, 7), 24_000) },
    ]);
    const voice = trpcData<{ id: string }>(
      await http.request("POST", "/trpc/voices.create", {
        headers: { "Content-Type": form.contentType },
        body: form.body,
      }),
    ).id;
    let completed = 0;
    await fuzz(
      "/v1/audio/speech (valid, run to completion)",
      fc
        .record(
          {
            input: fc.string({ minLength: 1, maxLength: 60 }).filter((s) => s.trim().length > 0),
            voice: fc.constantFrom(...BUILT_IN_VOICES, "default", voice, voice),
            response_format: format,
            stream_format: fc.constantFrom("audio", "sse"),
            ...settings,
            maxTokens: fc.integer({ min: 1, max: 12 }),
          },
          { requiredKeys: ["input", "maxTokens"] },
        )
        .map((body) => ({
          method: "POST",
          target: "/v1/audio/speech",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ model: "tts-1", ...body }),
        })),
      {
        numRuns: COMPLETION_RUNS,
        // One at a time: the node has one worker and one queue slot, and these must all run.
        concurrency: 1,
        extra: async (spec, reply) => {
          if (reply.status === 501) return; // a format this machine's ffmpeg cannot make
          if (reply.status !== 200)
            throw new Error(`a valid request refused: ${describeSpec(spec)} -> ${reply.text}`);
          const body = JSON.parse(spec.body as string) as { response_format: string; stream_format?: string };
          if (body.stream_format === "sse") {
            const events = reply.text.split("\n\n").filter(Boolean);
            expect(events.at(-1), `SSE ended with: ${events.at(-1)}`).toMatch(/"type":"speech\.audio\.done"/);
          }
          const audioId = String(reply.headers["x-audio-id"]);
          const stored = await fetch(`${t.url}/v1/audio/${audioId}`);
          expect(stored.status).toBe(200);
          const bytes = new Uint8Array(await stored.arrayBuffer());
          expect(bytes.length).toBeGreaterThan(0);
          if (body.response_format === "wav") expect(checkWav(bytes).reason).toBe("ok");
          if (body.response_format === "pcm") expect(bytes.length % 2).toBe(0);
          completed++;
        },
      },
    );
    expect(completed).toBeGreaterThan(0);
  });

  it("admission: tts.synthesize and /v1/audio/speech, fuzzed with the queue held full (validation, then 429)", async () => {
    // Two long jobs (hundreds of text chunks) keep the one worker and the one queue slot busy, so every request
    // that passes validation is refused with 429 at once instead of running a synthesis. They are topped up if
    // one ends early, and deleted at the end.
    const blockerText = "Keep the queue full for the fuzzer. ".repeat(1_600);
    const blockers: string[] = [];
    const keepFull = async () => {
      for (const blocker of [...blockers]) {
        const reply = await http.get(trpcQuery("tts.get", { id: blocker }));
        const status = reply.status === 200 ? trpcData<{ status: string }>(reply).status : "gone";
        if (status !== "queued" && status !== "running") blockers.splice(blockers.indexOf(blocker), 1);
      }
      while (blockers.length < 2) {
        const reply = await http.postJson("/trpc/tts.synthesize", { text: blockerText, format: "pcm" });
        if (reply.status === 429) break; // full already
        blockers.push(trpcData<{ id: string }>(reply).id);
      }
    };
    await keepFull();
    let sinceCheck = 0;
    const topUp = async () => {
      if (++sinceCheck % 100 === 0) await keepFull();
    };
    await fuzz(
      "tts.synthesize",
      mutationSpecs(
        "tts.synthesize",
        inputs(synthesizeValid, ["text", "voiceId", "format", ...SETTING_KEYS]),
      ),
      {
        synthesize: false,
        extra: topUp,
      },
    );
    await fuzz(
      "/v1/audio/speech",
      fc.oneof(
        {
          weight: 9,
          arbitrary: inputs(speechValid, [
            "model",
            "input",
            "voice",
            "response_format",
            "stream_format",
            "instructions",
            ...SETTING_KEYS,
          ]).map((value): Spec => ({
            method: "POST",
            target: "/v1/audio/speech",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(value) ?? "",
          })),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(garbage, fc.constantFrom(...CONTENT_TYPES)).map(([raw, type]): Spec => ({
            method: "POST",
            target: "/v1/audio/speech",
            headers: type ? { "Content-Type": type } : {},
            body: raw,
          })),
        },
      ),
      { synthesize: false, extra: topUp },
    );
    for (const blocker of blockers) await http.postJson("/trpc/tts.delete", { id: blocker });
    // Jobs the fuzz got admitted between top-ups (short ones) run out first.
    await waitFor(
      "the queue to empty",
      async () => (await metric(t.url, "tts_queue_depth")) + (await metric(t.url, "tts_jobs_in_flight")),
      (busy) => busy === 0,
    );
    await expectHealthy(t.url, "the admission fuzz");
  });
});
