import {
  ServiceError,
  type Job,
  type JobProgress,
  type NotReady,
  type SynthesisRequest,
  type TtsService,
} from "@tts/api";

import { SAMPLE_RATE } from "../engine/contract";
import { EngineError, type Engine } from "../engine/engine";
import { resolveSettings, type ResolvedSettings } from "../engine/resolve-settings";
import { splitText, type SplitOptions, type TextChunk } from "../engine/text-split";
import type { Logger } from "../logger";
import { newId, requireId } from "../storage/ids";
import type { AudioMeta, Collection, ObjectWriter, StoredObject } from "../storage/storage";
import { jobRunning, traceJob } from "../tracing";
import type { AudioEncoders } from "./audio-encoders";
import { AudioOutput } from "./audio-output";
import type { FormatSupport } from "./ffmpeg";
import { HEARTBEAT_MS, type JobRecords } from "./job-records";
import { isOwner, LOCAL_OWNER, storageFailure } from "./ownership";
import { PeerUnreachableError, type PeerNode, type PeerNodes } from "./peer-nodes";
import type { VoiceLibrary } from "./voice-service";

/** What the job service reports; the HTTP layer turns it into Prometheus series. */
export interface JobMetrics {
  queueDepth(value: number): void;
  inFlight(value: number): void;
  outcome(outcome: "done" | "failed" | "cancelled" | "timeout" | "rejected"): void;
  /** From request to the first audio sample written: into a job's stored stream, or onto a response. */
  firstAudio(seconds: number, via: "job" | "speech"): void;
  finished(stats: { realTimeFactor: number; tokensPerSecond: number }): void;
}

export interface JobServiceOptions {
  /** The engine once the model is loaded; undefined while it loads (or while it is unloaded when idle). */
  engine: () => Engine | undefined;
  /** Brings back an engine unloaded while idle; called before each job is admitted. */
  wake?: () => Promise<void>;
  /** Why the node cannot synthesize (model loading, download failing, ...), told to callers refused for it. */
  notReady?: () => NotReady | null;
  /** Told whenever the set of running and queued jobs changes (the idle timer restarts from it). */
  onActivity?: (jobs: number) => void;
  audio: Collection<AudioMeta>;
  voices: VoiceLibrary;
  queueSize: number;
  /**
   * Jobs one owner may have queued or running, so one caller cannot take the whole queue; the keyless local
   * user (everyone, on a node without credentials) is bounded by the queue alone.
   */
  maxActivePerOwner?: number;
  /** Per text chunk: a job's timeout scales with its length. */
  timeoutMs: number;
  maxTextLength: number;
  /**
   * How long a job that ended without audio (failed, cancelled) stays visible, text included: as long as audio
   * would have been kept.
   */
  retentionMs: number;
  /** How long texts are cut into chunks, and the pauses between them. */
  split?: SplitOptions;
  /** The encoder thread every job's audio goes through. */
  encoders: AudioEncoders;
  /** The formats it can encode; a job in another is refused (501). */
  formats: FormatSupport;
  metrics: JobMetrics;
  log: Logger;
  now?: () => number;
  /**
   * Nodes sharing storage answer for each other's jobs: each records its unfinished jobs there, and forwards
   * progress, cancel and delete to the node that runs a job (see docs/many-nodes.md).
   */
  cluster?: { records: JobRecords; peers: PeerNodes };
}

/** A job started for a caller that answers with its audio: follow `output`, or await `done`. */
export interface RunningJob {
  job: Job;
  output: AudioOutput;
  done: Promise<Job>;
}

interface JobState {
  job: Job;
  /** The principal that made it; nobody else sees it. */
  owner: string;
  controller: AbortController;
  listeners: Set<(event: JobProgress) => void>;
  chunks: TextChunk[];
  chunksDone: number;
  tokens: number;
  output: AudioOutput;
  /** Settles when the job ends; it starts running at `launch` (once recorded). */
  result: Promise<Job>;
  launch: () => void;
}

/** A job that ended without audio, kept in memory with its owner. */
interface EndedJob {
  job: Job;
  owner: string;
}

/** How many jobs that ended without audio (failed, cancelled) stay visible in `get`/`list`, newest kept. */
const UNFINISHED_JOBS_KEPT = 500;
const MAX_TIMER_MS = 2 ** 31 - 1;
const PROGRESS_INTERVAL_MS = 100;
/** Lists show this much of each job's text. */
const PREVIEW_CHARS = 200;

/** A job as lists show it: the start of a long text, not all of it (`get` has the whole). */
function preview(job: Job): Job {
  return job.text.length <= PREVIEW_CHARS ? job : { ...job, text: `${job.text.slice(0, PREVIEW_CHARS)}…` };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

const notFound = (id: string) => new ServiceError("NOT_FOUND", `No job with id ${id}.`);

function storedJob(stored: StoredObject<AudioMeta>): Job {
  const { meta } = stored;
  return {
    id: stored.id,
    status: "done",
    text: meta.text,
    voiceId: meta.voiceId,
    format: meta.format,
    createdAt: meta.requestedAt ?? stored.createdAt,
    finishedAt: stored.createdAt,
    error: null,
    audio: {
      url: `/v1/audio/${stored.id}`,
      contentType: meta.contentType,
      size: stored.size,
      durationSeconds: meta.durationSeconds,
      expiresAt: stored.expiresAt,
    },
    tokens: meta.tokens,
    seed: meta.seed,
  };
}

/**
 * Synthesis jobs: a bounded queue in front of the engine, per-job timeouts and cancellation, progress events,
 * and finished audio persisted to storage (so results outlive the process; failures are kept in memory).
 */
export class JobService implements TtsService {
  private readonly active = new Map<string, JobState>();
  /** Jobs that ended without audio (failed or cancelled), oldest first; finished audio lives in storage. */
  private readonly unfinished = new Map<string, EndedJob>();
  private draining = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private averageJobMs = 5_000;
  private readonly now: () => number;

  constructor(private readonly options: JobServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  async synthesize(owner: string, request: SynthesisRequest): Promise<Job> {
    const { state, admitted } = await this.start(owner, request);
    // Failures are recorded on the job; nobody awaits this promise for `synthesize`.
    state.result.catch(() => undefined);
    return admitted;
  }

  /** Starts a job for a caller that streams its audio as it is made; `signal` cancels it. */
  async run(owner: string, request: SynthesisRequest, signal?: AbortSignal): Promise<RunningJob> {
    const { state, admitted } = await this.start(owner, request);
    const gone = () =>
      state.controller.abort(new ServiceError("CLIENT_CLOSED_REQUEST", "The client went away."));
    // The client may have left while the job was being admitted (its record written).
    if (signal?.aborted) gone();
    else signal?.addEventListener("abort", gone, { once: true });
    return { job: admitted, output: state.output, done: state.result };
  }

  /** The audio of `owner`'s job still running, to follow while it is made; undefined once it has ended. */
  liveOutput(owner: string, id: string): AudioOutput | undefined {
    const state = this.active.get(id);
    // Once committed, the stored file (with its real sizes and Range support) is what a new request gets, even
    // in the moment before the job leaves the active set.
    return state?.owner === owner && !state.output.finished ? state.output : undefined;
  }

  async get(owner: string, id: string): Promise<Job> {
    requireId("job", id);
    const state = this.activeOf(owner, id);
    if (state) return { ...state.job };
    const ended = this.endedOf(owner, id);
    if (ended) return ended;
    const stored = await this.options.audio.get(id);
    if (stored && isOwner(stored.meta, owner)) return storedJob(stored);
    const recorded = await this.options.cluster?.records.find(owner, id);
    if (recorded) return recorded.job;
    throw notFound(id);
  }

  async list(owner: string, limit: number): Promise<Job[]> {
    this.forgetExpired();
    const stored = (await this.options.audio.list()).filter((s) => isOwner(s.meta, owner)).map(storedJob);
    const live = [...this.active.values()].filter((s) => s.owner === owner).map((s) => ({ ...s.job }));
    const ended = [...this.unfinished.values()].filter((e) => e.owner === owner).map((e) => e.job);
    const known = new Set([...live, ...ended, ...stored].map((job) => job.id));
    // Other nodes' unfinished jobs (records of this node's own are in `live` and `ended` already).
    const recorded = ((await this.options.cluster?.records.list(owner)) ?? []).filter(
      (job) => !known.has(job.id),
    );
    return [...live, ...ended, ...stored, ...recorded]
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, limit)
      .map(preview);
  }

  async delete(owner: string, id: string): Promise<void> {
    requireId("job", id);
    const state = this.activeOf(owner, id);
    if (state) {
      state.controller.abort(new ServiceError("CLIENT_CLOSED_REQUEST", "The job was deleted."));
      await state.result.catch(() => undefined);
    }
    if (state || this.endedOf(owner, id)) {
      this.unfinished.delete(id);
      return void (await this.options.cluster?.records.remove(id).catch(() => undefined));
    }
    const stored = await this.options.audio.get(id);
    if (stored && isOwner(stored.meta, owner) && (await this.options.audio.delete(id))) return;
    const cluster = this.options.cluster;
    const recorded = await cluster?.records.find(owner, id);
    if (!cluster || !recorded) throw notFound(id);
    const { node } = recorded;
    if (recorded.where === "peer") return this.forward(node!, () => cluster.peers.delete(node!, owner, id));
    // An ended job is also in the memory of the node that ran it: that node forgets it and drops the record.
    if (node) {
      try {
        return await cluster.peers.delete(node, owner, id);
      } catch (error) {
        if (!(error instanceof PeerUnreachableError)) throw error;
      }
    }
    await cluster.records.remove(id);
  }

  async cancel(owner: string, id: string): Promise<Job> {
    requireId("job", id);
    const state = this.activeOf(owner, id);
    if (!state) {
      const node = await this.runningElsewhere(owner, id);
      const peers = this.options.cluster?.peers;
      if (node && peers) return this.forward(node, () => peers.cancel(node, owner, id));
      return this.get(owner, id);
    }
    state.controller.abort(new ServiceError("CLIENT_CLOSED_REQUEST", "The synthesis was cancelled."));
    await state.result.catch(() => undefined);
    // A job that finished in the meantime is returned as done: cancelling came too late to lose its audio.
    return this.get(owner, id);
  }

  async *progress(owner: string, id: string, signal: AbortSignal): AsyncIterable<JobProgress> {
    const state = this.activeOf(owner, id);
    if (!state) {
      yield* this.progressElsewhere(owner, id, signal);
      return;
    }
    const pending: JobProgress[] = [this.snapshot(state)];
    let wake: (() => void) | undefined;
    const listener = (event: JobProgress) => {
      pending.push(event);
      wake?.();
    };
    const onAbort = () => wake?.();
    state.listeners.add(listener);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const event = pending.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        yield event;
        if (event.type === "done" || event.type === "failed") return;
      }
    } finally {
      state.listeners.delete(listener);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The node that runs `owner`'s job `id`, when another node on the same storage does. */
  async runningElsewhere(owner: string, id: string): Promise<PeerNode | undefined> {
    if (this.activeOf(owner, id)) return undefined;
    const recorded = await this.options.cluster?.records.find(owner, id);
    return recorded?.where === "peer" ? recorded.node : undefined;
  }

  /**
   * Progress of a job this node does not run: relayed from the node that does, or its outcome once ended. When
   * that node cannot be reached, the job's record is watched until the job ends or the record goes stale.
   */
  private async *progressElsewhere(
    owner: string,
    id: string,
    signal: AbortSignal,
  ): AsyncIterable<JobProgress> {
    for (let relayed = false; !signal.aborted;) {
      const job = await this.get(owner, id);
      if (job.status === "done") {
        yield { type: "done", job };
        return;
      }
      if (job.status !== "queued" && job.status !== "running") {
        yield {
          type: "failed",
          code: job.error?.code ?? job.status,
          reason: job.error?.message ?? job.status,
        };
        return;
      }
      const node = await this.runningElsewhere(owner, id);
      const peers = this.options.cluster?.peers;
      if (node && peers && !relayed) {
        try {
          yield* peers.progress(node, owner, id, signal);
          return;
        } catch (error) {
          if (!(error instanceof PeerUnreachableError)) throw error;
          this.options.log.warn({ jobId: id, node: node.url, err: error.message }, "job's node unreachable");
          relayed = true;
        }
      }
      await sleepUnlessAborted(HEARTBEAT_MS / 2, signal);
    }
  }

  /** A call to the node that runs a job; an unreachable node is the caller's 503, to retry. */
  private async forward<T>(node: PeerNode, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof PeerUnreachableError)) throw error;
      this.options.log.warn({ node: node.url, err: error.message }, "job's node unreachable");
      throw new ServiceError(
        "SERVICE_UNAVAILABLE",
        `The node running this job (${node.url}) cannot be reached right now; retry shortly.`,
        5,
      );
    }
  }

  /** Shares the job's state with the other nodes; failures are logged by the records, and the job goes on. */
  private record(state: JobState): void {
    this.options.cluster?.records.save(state.owner, state.job).catch(() => undefined);
  }

  /** Stops taking jobs and waits (up to `timeoutMs`) for those queued or running to finish. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const settled = Promise.allSettled([...this.active.values()].map((state) => state.result)).then(
      () => true,
    );
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    return Promise.race([settled, timeout]);
  }

  stats() {
    const states = [...this.active.values()];
    return {
      queued: states.filter((s) => s.job.status === "queued").length,
      running: states.filter((s) => s.job.status === "running").length,
    };
  }

  private activeOf(owner: string, id: string): JobState | undefined {
    const state = this.active.get(id);
    return state?.owner === owner ? state : undefined;
  }

  private endedOf(owner: string, id: string): Job | undefined {
    this.forgetExpired();
    const ended = this.unfinished.get(id);
    return ended?.owner === owner ? ended.job : undefined;
  }

  /** Failed and cancelled jobs (and their texts) go once they are older than the retention. */
  private forgetExpired(): void {
    const cutoff = this.now() - this.options.retentionMs;
    for (const [id, { job }] of this.unfinished) {
      if ((job.finishedAt ?? 0) > cutoff) break; // oldest first: the rest are younger
      this.unfinished.delete(id);
    }
  }

  private snapshot(state: JobState): JobProgress {
    if (state.job.status === "queued") return { type: "queued", position: this.position(state) };
    return {
      type: "running",
      tokens: state.tokens,
      audioSeconds: state.output.samples / SAMPLE_RATE,
      chunksDone: state.chunksDone,
      chunks: state.chunks.length,
    };
  }

  private position(state: JobState): number {
    return [...this.active.values()].filter(
      (s) => s.job.status === "queued" && s.job.createdAt <= state.job.createdAt && s !== state,
    ).length;
  }

  private emit(state: JobState, event: JobProgress): void {
    for (const listener of state.listeners) listener(event);
  }

  private updateGauges(): void {
    // While jobs are unfinished, their records are renewed so other nodes know this node is still on them.
    if (this.options.cluster && this.active.size > 0 && !this.heartbeat)
      this.heartbeat = setInterval(() => {
        for (const state of this.active.values()) this.record(state);
      }, HEARTBEAT_MS).unref();
    if (this.active.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
    const { queued, running } = this.stats();
    this.options.metrics.queueDepth(queued);
    this.options.metrics.inFlight(running);
    this.options.onActivity?.(queued + running);
  }

  /** Admits a job; `admitted` is the job as it was queued (it may be running by the time this resolves). */
  private async start(owner: string, request: SynthesisRequest): Promise<{ state: JobState; admitted: Job }> {
    const { maxTextLength } = this.options;
    if (request.text.length > maxTextLength) {
      throw new ServiceError(
        "BAD_REQUEST",
        `The text is ${request.text.length} characters; the limit is ${maxTextLength}.`,
      );
    }
    const missing = this.options.formats.missing[request.format];
    if (missing) throw new ServiceError("NOT_IMPLEMENTED", missing);
    // An unknown voice is the caller's mistake: answer 404 now, not as a failed job later.
    if (request.voiceId) await this.options.voices.checkUsable(owner, request.voiceId);
    await this.options.wake?.();
    const id = newId("tts");
    const writer = await this.options.audio.createWriter(id).catch((error: unknown) => {
      throw storageFailure(error, "no job was started");
    });
    let state: JobState;
    try {
      state = this.admit(owner, id, writer, request);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    const admitted = { ...state.job };
    // Recorded before it runs: a caller that follows its audio is then always there from the first byte.
    await this.recordAdmitted(state);
    state.launch();
    return { state, admitted };
  }

  /**
   * The job's first record, written before it runs so that any node can find it once the caller has its id. A
   * failed write (logged by the records) does not fail the job: other nodes see it from its next record write
   * (it starts running, or the heartbeat), and a storage hiccup in shared state costs no one their speech.
   */
  private async recordAdmitted(state: JobState): Promise<void> {
    await this.options.cluster?.records.save(state.owner, state.job).catch(() => undefined);
  }

  /** Queues the job, or refuses it; synchronous, so no other request can slip past the checks meanwhile. */
  private admit(
    owner: string,
    id: string,
    writer: ObjectWriter<AudioMeta>,
    request: SynthesisRequest,
  ): JobState {
    const { engine: getEngine, queueSize, metrics } = this.options;
    if (this.draining)
      throw new ServiceError("SERVICE_UNAVAILABLE", "The server is shutting down; retry on another node.", 5);
    const engine = getEngine();
    if (!engine) {
      const why = this.options.notReady?.();
      throw new ServiceError(
        "SERVICE_UNAVAILABLE",
        why && why.category !== "loading"
          ? `The model is not ready: ${why.advice}`
          : "The model is still loading; retry shortly.",
        10,
      );
    }
    const queued = this.stats().queued;
    const workers = engine.stats().workers;
    // Work taken with no worker to run it would only wait for its timeout.
    if (workers === 0)
      throw new ServiceError("SERVICE_UNAVAILABLE", "No inference worker is available; retry shortly.", 5);
    const perOwner = this.options.maxActivePerOwner;
    if (perOwner !== undefined && owner !== LOCAL_OWNER) {
      const mine = [...this.active.values()].filter((s) => s.owner === owner).length;
      if (mine >= perOwner) {
        metrics.outcome("rejected");
        const retryAfter = Math.max(1, Math.ceil(this.averageJobMs / 1000));
        throw new ServiceError(
          "TOO_MANY_REQUESTS",
          `You already have ${mine} jobs queued or running (the limit per caller); wait for one to finish or ` +
            `cancel one, then retry (about ${retryAfter} s).`,
          retryAfter,
        );
      }
    }
    if (queued >= queueSize) {
      metrics.outcome("rejected");
      // Finite whatever the state: no workers (being replaced) counts as one, and an hour is the most asked.
      const estimate = (this.averageJobMs * (queued + 1)) / Math.max(1, workers) / 1000;
      const retryAfter = Math.min(3600, Math.max(1, Math.ceil(Number.isFinite(estimate) ? estimate : 3600)));
      throw new ServiceError(
        "TOO_MANY_REQUESTS",
        `The queue is full (${queueSize} waiting); retry in ${retryAfter} s.`,
        retryAfter,
      );
    }
    const { variant, guidance, guidanceProblem } = engine.info;
    const settings = resolveSettings(variant, request.settings, { mode: guidance, problem: guidanceProblem });
    const chunks = splitText(request.text, this.options.split);
    const job: Job = {
      id,
      status: "queued",
      text: request.text,
      voiceId: request.voiceId ?? null,
      format: request.format,
      createdAt: this.now(),
      finishedAt: null,
      error: null,
      audio: null,
      tokens: null,
      seed: settings.generation.seed,
    };
    let begin!: (run: Promise<Job>) => void;
    const result = new Promise<Job>((resolve) => (begin = resolve));
    const state: JobState = {
      job,
      owner,
      controller: new AbortController(),
      listeners: new Set(),
      chunks,
      chunksDone: 0,
      tokens: 0,
      output: new AudioOutput(this.options.encoders, writer, job.format, settings.speed, () =>
        this.options.metrics.firstAudio((this.now() - job.createdAt) / 1000, "job"),
      ),
      result,
      // A cancel or delete meanwhile awaits `result`, so it sees the job through to its end.
      launch: () => begin(traceJob(job, chunks.length, this.execute(engine, state, settings))),
    };
    this.active.set(job.id, state);
    this.updateGauges();
    return state;
  }

  private async execute(engine: Engine, state: JobState, settings: ResolvedSettings): Promise<Job> {
    const { job, controller, output, chunks } = state;
    // Timers cannot wait past 2^31-1 ms (they would fire at once): a huge job gets that long, about 24 days.
    const timeoutMs = Math.min(this.options.timeoutMs * chunks.length, MAX_TIMER_MS);
    const timer = setTimeout(
      () =>
        controller.abort(
          new ServiceError("TIMEOUT", `The synthesis took longer than ${Math.round(timeoutMs / 1000)} s.`),
        ),
      timeoutMs,
    );
    let startedAt = this.now();
    try {
      const voice = job.voiceId
        ? { samples: await this.options.voices.samples(job.voiceId), key: `voice:${job.voiceId}` }
        : undefined;
      const { generation } = settings;
      let lastProgress = 0;
      // Chunks run one after another (other jobs may take turns between them); the voice's conditioning stays
      // cached in the worker, and the token limit applies to each chunk.
      for (const [index, chunk] of chunks.entries()) {
        const before = state.tokens;
        const result = await engine.synthesize(
          {
            text: chunk.text,
            voice,
            options: { ...generation, seed: (generation.seed + index) >>> 0, followsAudio: index > 0 },
          },
          {
            signal: controller.signal,
            onStart: () => (index === 0 ? (startedAt = this.markRunning(state)) : undefined),
            onToken: (tokens) => {
              state.tokens = before + tokens;
              // Subscribers see progress at most every PROGRESS_INTERVAL_MS, not once per 40 ms token.
              if (this.now() - lastProgress < PROGRESS_INTERVAL_MS) return;
              lastProgress = this.now();
              this.emit(state, this.snapshot(state));
            },
            onAudio: (samples) => output.write(samples),
          },
        );
        state.tokens = before + result.tokens.length;
        output.endChunk(chunk.pauseAfterMs);
        state.chunksDone = index + 1;
        this.emit(state, this.snapshot(state));
      }
      return await this.complete(state, startedAt, engine.info.variant, settings);
    } catch (error) {
      const failure = this.fail(state, controller.signal.aborted ? controller.signal.reason : error);
      await output.abort(failure);
      throw failure;
    } finally {
      clearTimeout(timer);
      this.active.delete(job.id);
      this.updateGauges();
    }
  }

  /** The job's first chunk got a worker: it is running from now on. Returns the time it started. */
  private markRunning(state: JobState): number {
    state.job.status = "running";
    jobRunning(state.job);
    this.record(state);
    this.emit(state, this.snapshot(state));
    for (const other of this.active.values())
      if (other.job.status === "queued") this.emit(other, this.snapshot(other));
    this.updateGauges();
    return this.now();
  }

  private async complete(
    state: JobState,
    startedAt: number,
    variant: string,
    { generation }: ResolvedSettings,
  ): Promise<Job> {
    const { job, output } = state;
    const stored = await output.commit({
      owner: state.owner,
      text: job.text,
      voiceId: job.voiceId,
      format: job.format,
      contentType: output.contentType,
      variant,
      seed: generation.seed,
      tokens: state.tokens,
      requestedAt: job.createdAt,
    });
    const done: Job = { ...storedJob(stored), finishedAt: this.now() };
    Object.assign(job, done);
    // The audio object tells every node about the job from now on.
    this.options.cluster?.records.remove(job.id).catch(() => undefined);
    const synthSeconds = Math.max(1e-6, (this.now() - startedAt) / 1000);
    const audioSeconds = stored.meta.durationSeconds;
    this.averageJobMs = 0.8 * this.averageJobMs + 0.2 * synthSeconds * 1000;
    this.options.metrics.outcome("done");
    this.options.metrics.finished({
      realTimeFactor: audioSeconds > 0 ? synthSeconds / audioSeconds : 0,
      tokensPerSecond: state.tokens / synthSeconds,
    });
    this.emit(state, { type: "done", job: { ...done } });
    return { ...done };
  }

  private fail(state: JobState, error: unknown): ServiceError {
    const { job } = state;
    const failure = this.asFailure(job.id, storageFailure(error, "the audio was not saved"));
    const cancelled = failure.code === "CLIENT_CLOSED_REQUEST";
    Object.assign(job, {
      status: cancelled ? "cancelled" : "failed",
      finishedAt: this.now(),
      error: { code: failure.code, message: failure.message },
    });
    this.options.metrics.outcome(cancelled ? "cancelled" : failure.code === "TIMEOUT" ? "timeout" : "failed");
    if (!cancelled || state.listeners.size > 0)
      this.options.log.warn(
        // The cause's detail (runtime errors, paths) goes to the log only; never the text.
        { jobId: job.id, code: failure.code, err: failure === error ? failure.message : error },
        "synthesis did not complete",
      );
    this.unfinished.set(job.id, { job: { ...job }, owner: state.owner });
    this.record(state);
    if (this.unfinished.size > UNFINISHED_JOBS_KEPT)
      this.unfinished.delete(this.unfinished.keys().next().value!);
    this.emit(state, { type: "failed", code: failure.code, reason: failure.message });
    return failure;
  }

  /** What the job's caller is told: service errors as they are, anything unexpected without its detail. */
  private asFailure(id: string, error: unknown): ServiceError {
    if (error instanceof ServiceError) return error;
    if (error instanceof EngineError && error.code === "cancelled")
      return new ServiceError("CLIENT_CLOSED_REQUEST", "The synthesis was cancelled.");
    if (error instanceof EngineError && error.code === "worker-died")
      return new ServiceError(
        "INTERNAL_SERVER_ERROR",
        "The inference worker stopped unexpectedly during this job; it has been replaced, so retrying should work.",
      );
    return new ServiceError(
      "INTERNAL_SERVER_ERROR",
      `The synthesis failed with an internal error; the server log has the details under job ${id}.`,
    );
  }
}
