import type { ApiContext, TtsService, VoiceService } from "./context";
import { ServiceError } from "./errors";
import type { Job } from "./schemas/tts";
import type { Voice } from "./schemas/voices";

/** In-memory services for router tests: enough behaviour to exercise validation, auth and error mapping. */
export function testContext(overrides: Partial<ApiContext> = {}): ApiContext {
  const voices = new Map<string, Voice>();
  const jobs = new Map<string, Job>();
  const missing = (kind: string, id: string) => new ServiceError("NOT_FOUND", `No ${kind} with id ${id}.`);
  const voiceService: VoiceService = {
    create: async ({ name, file }) => {
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
      return voice;
    },
    list: () => Promise.resolve([...voices.values()]),
    get: (id) => (voices.has(id) ? Promise.resolve(voices.get(id)!) : Promise.reject(missing("voice", id))),
    rename: (id, name) => {
      const voice = voices.get(id);
      if (!voice) return Promise.reject(missing("voice", id));
      voice.name = name;
      return Promise.resolve(voice);
    },
    delete: (id) => (voices.delete(id) ? Promise.resolve() : Promise.reject(missing("voice", id))),
  };
  const ttsService: TtsService = {
    synthesize: (input) => {
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
      return Promise.resolve(job);
    },
    get: (id) => (jobs.has(id) ? Promise.resolve(jobs.get(id)!) : Promise.reject(missing("job", id))),
    list: (limit) => Promise.resolve([...jobs.values()].slice(0, limit)),
    delete: (id) => (jobs.delete(id) ? Promise.resolve() : Promise.reject(missing("job", id))),
    progress: async function* (id) {
      const job = await ttsService.get(id);
      yield { type: "queued", position: 0 };
      yield { type: "done", job };
    },
  };
  return {
    service: { name: "tts-inference", version: "1.2.3", startedAt: 1_000_000 },
    onnxRuntime: { version: "1.30.0", backends: () => [{ name: "cpu", available: true }] },
    model: () => ({ state: "ready", variant: "turbo", dtype: "q4", provider: "cpu", error: null }),
    audioFormats: ["mp3", "wav", "pcm"],
    voices: voiceService,
    tts: ttsService,
    authorized: true,
    now: () => 1_000_000,
    ...overrides,
  };
}
