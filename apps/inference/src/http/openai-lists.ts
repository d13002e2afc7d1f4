import type { Variant, VoiceService } from "@tts/api";

import { BUILT_IN_VOICES, servedModelIds } from "./openai-compat";

/** `GET /v1/models`, in OpenAI's list shape. */
export function modelList(variant: Variant) {
  return {
    object: "list" as const,
    data: servedModelIds(variant).map((id) => ({
      id,
      object: "model" as const,
      created: 0,
      owned_by: "chatterbox",
    })),
  };
}

/** `GET /v1/audio/models`, as Open WebUI and Home Assistant read it. */
export function audioModelList(variant: Variant) {
  return { models: servedModelIds(variant).map((id) => ({ id })) };
}

/**
 * `GET /v1/audio/voices`: the built-in names and the operator's aliases for everyone; the caller's own voices
 * only with a credential (they are users' uploads).
 */
export async function audioVoiceList(
  aliases: ReadonlyMap<string, string>,
  library?: { voices: VoiceService; owner: string },
) {
  const named = [...new Set([...BUILT_IN_VOICES, ...aliases.keys()])].map((name) => ({ id: name, name }));
  const own = library
    ? (await library.voices.list(library.owner)).map((voice) => ({ id: voice.id, name: voice.name }))
    : [];
  return { voices: [...named, ...own] };
}
