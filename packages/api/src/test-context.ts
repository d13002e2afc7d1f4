import type { ApiContext, TtsService, VoiceService } from "./context";
import { ServiceError } from "./errors";
import type { Job } from "./schemas/tts";
import type { Voice } from "./schemas/voices";

/**
 * In-memory services for router tests: enough behaviour to exercise validation, auth, ownership and error
 * mapping. Records are keyed by owner, so another principal's ids are as unknown as made-up ones.
 */
export function testContext(overrides: Partial<ApiContext> = {}): ApiContext {
  const voices = new Map<string, Voice>();
  const jobs = new Map<string, Job>();
  const owners = new Map<string, string>();
  const owned = <T>(records: Map<string, T>, owner: string, id: string) =>
    owners.get(id) === owner ? records.get(id) : undefined;
  const missing = (kind: string, id: string) => new ServiceError("NOT_FOUND", `No ${kind} with id ${id}.`);
  const voiceService: VoiceService = {
    create: async (owner, { name, file }) => {
      const bytes = new Uint8Array(await file.arrayBuffer());
      if (bytes.length < 4) throw new ServiceError("BAD_REQUEST", "The upload is not a WAV file.");
      const voice = {
        id: `voice_${String(voices.size).padStart(8, "0")}`,
        name,
        durationSeconds: 6,
        sampleRate: 24_000,
        createdAt: 1,
      };
      voices.set(voice.id, voice);
      owners.set(voice.id, owner);
      return voice;
    },
    list: (owner) => Promise.resolve([...voices.values()].filter((v) => owners.get(v.id) === owner)),
    get: (owner, id) => {
      const voice = owned(voices, owner, id);
      return voice ? Promise.resolve(voice) : Promise.reject(missing("voice", id));
    },
    rename: (owner, id, name) => {
      const voice = owned(voices, owner, id);
      if (!voice) return Promise.reject(missing("voice", id));
      voice.name = name;
      return Promise.resolve(voice);
    },
    delete: (owner, id) =>
      owned(voices, owner, id) && voices.delete(id)
        ? Promise.resolve()
        : Promise.reject(missing("voice", id)),
  };
  const ttsService: TtsService = {
    synthesize: (owner, input) => {
      if (jobs.size >= 2)
        return Promise.reject(new ServiceError("TOO_MANY_REQUESTS", "The queue is full.", 3));
      const job: Job = {
        id: `tts_${String(jobs.size).padStart(8, "0")}`,
        status: "queued",
        text: input.text,
        voiceId: input.voiceId ?? null,
        format: input.format,
        createdAt: 1,
        finishedAt: null,
        error: null,
        audio: null,
        tokens: null,
        seed: input.settings.seed ?? null,
      };
      jobs.set(job.id, job);
      owners.set(job.id, owner);
      return Promise.resolve(job);
    },
    get: (owner, id) => {
      const job = owned(jobs, owner, id);
      return job ? Promise.resolve(job) : Promise.reject(missing("job", id));
    },
    list: (owner, limit) =>
      Promise.resolve([...jobs.values()].filter((j) => owners.get(j.id) === owner).slice(0, limit)),
    delete: (owner, id) =>
      owned(jobs, owner, id) && jobs.delete(id) ? Promise.resolve() : Promise.reject(missing("job", id)),
    cancel: (owner, id) => {
      const job = owned(jobs, owner, id);
      if (!job) return Promise.reject(missing("job", id));
      if (job.status === "queued" || job.status === "running") job.status = "cancelled";
      return Promise.resolve(job);
    },
    progress: async function* (owner, id) {
      const job = await ttsService.get(owner, id);
      yield { type: "queued", position: 0 };
      yield { type: "done", job };
    },
  };
  return {
    service: { name: "tts-inference", version: "1.2.3", startedAt: 1_000_000 },
    onnxRuntime: { version: "1.30.0", backends: () => [{ name: "cpu", available: true }] },
    model: () => ({
      state: "ready",
      variant: "turbo",
      dtype: "q4",
      provider: "cpu",
      notReady: null,
      manifest: "verified",
      guidance: "none",
      guidanceProblem: null,
    }),
    audioFormats: ["mp3", "wav", "pcm"],
    limits: { maxTextLength: 100_000, maxUploadBytes: 25_000_000 },
    queue: () => ({ queued: 0, running: 0 }),
    audioLink: (owner, id, format) => ({
      url: `/v1/audio/${id}?p=${owner}${format ? `&format=${format}` : ""}`,
      expiresAt: 2_000_000,
    }),
    voiceLink: (owner, id) => ({ url: `/v1/voices/${id}/audio?p=${owner}`, expiresAt: 2_000_000 }),
    voices: voiceService,
    tts: ttsService,
    principal: { id: "local" },
    requestId: "req_test",
    now: () => 1_000_000,
    ...overrides,
  };
}
