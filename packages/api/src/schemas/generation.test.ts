import { describe, expect, it } from "vitest";

import { generationSettingsSchema } from "./generation";
import { synthesizeInput } from "./tts";

/** A valid value for every setting, so a setting added to the schema is covered here without editing this file. */
const everySetting = {
  seed: 9,
  greedy: false,
  maxTokens: 50,
  temperature: 0.7,
  topK: 40,
  topP: 0.9,
  minP: 0.1,
  repetitionPenalty: 1.3,
  exaggeration: 0.6,
  cfgWeight: 0.4,
  speed: 1.5,
} as const;

describe("synthesis requests", () => {
  it("are sent flat and parsed into the request's own fields plus one settings object", () => {
    expect(synthesizeInput.parse({ text: " Hi ", voiceId: "voice_12345678", seed: 3, speed: 2 })).toEqual({
      text: "Hi",
      voiceId: "voice_12345678",
      format: "wav",
      settings: { seed: 3, speed: 2 },
    });
  });

  it("carry every generation setting into `settings`, and nothing else", () => {
    expect(Object.keys(everySetting).sort()).toEqual([...generationSettingsSchema.keyof().options].sort());
    const parsed = synthesizeInput.parse({ text: "x", format: "mp3", unknown: 1, ...everySetting });
    expect(parsed.settings).toEqual(everySetting);
    expect(Object.keys(parsed).sort()).toEqual(["format", "settings", "text"]);
  });

  it("refuse a bad setting with the field's name", () => {
    const result = synthesizeInput.safeParse({ text: "x", speed: 9 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ["speed"],
      message: "speed must be between 0.25 and 4",
    });
  });
});
