import type { RouterInputs, Variant } from "@tts/api";
// The browser-safe entry: the package root also exports the router, which pulls in @trpc/server.
import { SETTING_DEFAULTS } from "@tts/api/generation";

/** The settings the page offers; sliders start at the node's defaults. */
export interface SpeechSettings {
  temperature: number;
  speed: number;
  /** Empty = a random seed, which the finished job reports. */
  seed: string;
  exaggeration: number;
  cfgWeight: number;
}

export const DEFAULT_SPEECH_SETTINGS: SpeechSettings = {
  temperature: SETTING_DEFAULTS.temperature,
  speed: SETTING_DEFAULTS.speed,
  seed: "",
  exaggeration: SETTING_DEFAULTS.exaggeration,
  cfgWeight: SETTING_DEFAULTS.cfgWeight,
};

type SynthesizeInput = RouterInputs["tts"]["synthesize"];

/**
 * The request for `text`: English-only settings go only to an English node, and the guidance weight only to one
 * that runs guidance (an English export without it refuses any weight above 0).
 */
export function synthesizeRequest(
  text: string,
  voiceId: string,
  settings: SpeechSettings,
  variant: Variant,
  guided = variant === "english",
): SynthesizeInput {
  const seed = settings.seed.trim() === "" ? undefined : Number(settings.seed);
  return {
    text,
    voiceId: voiceId || null,
    format: "wav",
    temperature: settings.temperature,
    speed: settings.speed,
    ...(seed !== undefined && { seed }),
    ...(variant === "english" && { exaggeration: settings.exaggeration }),
    ...(variant === "english" && guided && { cfgWeight: settings.cfgWeight }),
  };
}
