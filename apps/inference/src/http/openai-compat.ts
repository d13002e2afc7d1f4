import type { GenerationSettings, Variant } from "@tts/api";

/** OpenAI's built-in voice names: each means the model's default voice unless the operator maps it. */
export const BUILT_IN_VOICES = [
  "alloy",
  "ash",
  "ballad",
  "coral",
  "echo",
  "fable",
  "onyx",
  "nova",
  "sage",
  "shimmer",
  "verse",
  "marin",
  "cedar",
] as const;

/** OpenAI's speech model names; all of them mean the variant this node serves. */
export const OPENAI_SPEECH_MODELS = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"] as const;

/** The model ids a node serving `variant` answers to, its own name first. */
export function servedModelIds(variant: Variant): string[] {
  return [`chatterbox-${variant}`, ...OPENAI_SPEECH_MODELS];
}

/**
 * Which stored voice a request's voice name means: an operator alias (global, visible to every caller), the
 * default voice for a built-in name or "default", else the name itself as a voice id.
 */
export function resolveVoiceName(name: string, aliases: ReadonlyMap<string, string>): string | null {
  const alias = aliases.get(name.toLowerCase());
  if (alias) return alias;
  if (name === "default" || (BUILT_IN_VOICES as readonly string[]).includes(name.toLowerCase())) return null;
  return name;
}

/**
 * English delivery presets for OpenAI's `instructions`: the first of these words in the instructions sets
 * exaggeration and guidance (more exaggeration with less guidance reads as more animated, as upstream suggests).
 */
export const DELIVERY_PRESETS = {
  calm: { exaggeration: 0.3, cfgWeight: 0.5 },
  neutral: { exaggeration: 0.5, cfgWeight: 0.5 },
  expressive: { exaggeration: 0.7, cfgWeight: 0.4 },
  dramatic: { exaggeration: 1.0, cfgWeight: 0.3 },
} as const satisfies Record<string, Pick<GenerationSettings, "exaggeration" | "cfgWeight">>;

export interface AppliedInstructions {
  settings: GenerationSettings;
  /** What a response header reports: the preset used, or why none was. */
  applied: string;
}

/**
 * Applies `instructions` to English settings; values the request set itself win over the preset. A model that
 * runs no guidance takes the preset's exaggeration alone.
 */
export function applyInstructions(
  instructions: string | undefined,
  variant: Variant | undefined,
  settings: GenerationSettings,
  guided = true,
): AppliedInstructions {
  if (!instructions?.trim()) return { settings, applied: "none" };
  if (variant !== "english")
    return { settings, applied: `ignored (${variant ?? "this"} model has no delivery controls)` };
  const words: string[] = instructions.toLowerCase().match(/[a-z]+/g) ?? [];
  const name = words.find((word) => Object.hasOwn(DELIVERY_PRESETS, word)) as
    keyof typeof DELIVERY_PRESETS | undefined;
  if (!name)
    return { settings, applied: `none (no delivery word: ${Object.keys(DELIVERY_PRESETS).join(", ")})` };
  const { exaggeration, cfgWeight } = DELIVERY_PRESETS[name];
  const merged = { exaggeration, ...(guided && { cfgWeight }), ...stripUndefined(settings) };
  return {
    settings: merged,
    applied: `${name} (exaggeration ${merged.exaggeration}, cfg_weight ${merged.cfgWeight ?? 0})`,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Peers' snake_case names for Chatterbox's settings, as OpenAI-style clients send them. */
const SNAKE_CASE_SETTINGS: Record<string, keyof GenerationSettings> = {
  cfg_weight: "cfgWeight",
  max_tokens: "maxTokens",
  top_k: "topK",
  top_p: "topP",
  min_p: "minP",
  repetition_penalty: "repetitionPenalty",
};

/** A JSON body with snake_case setting names renamed to the schema's (camelCase wins if both are sent). */
export function camelCaseSettings(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const name = SNAKE_CASE_SETTINGS[key];
    if (name === undefined) renamed[key] = value;
    else if (!(name in body)) renamed[name] = value;
  }
  return renamed;
}
