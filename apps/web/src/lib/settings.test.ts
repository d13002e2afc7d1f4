import { describe, expect, it } from "vitest";

import { DEFAULT_SPEECH_SETTINGS, synthesizeRequest } from "./settings";

describe("synthesizeRequest", () => {
  it("sends English-only settings to English nodes only, and a seed only when one is given", () => {
    const settings = { ...DEFAULT_SPEECH_SETTINGS, exaggeration: 1.2, seed: " 42 " };
    expect(synthesizeRequest("Hi.", "", settings, "turbo")).toEqual({
      text: "Hi.",
      voiceId: null,
      format: "wav",
      temperature: 0.8,
      speed: 1,
      seed: 42,
    });
    expect(synthesizeRequest("Hi.", "voice_1", { ...settings, seed: "" }, "english")).toEqual({
      text: "Hi.",
      voiceId: "voice_1",
      format: "wav",
      temperature: 0.8,
      speed: 1,
      exaggeration: 1.2,
      cfgWeight: 0.5,
    });
    // An English node that runs no guidance gets no weight (it would refuse one above 0).
    expect(synthesizeRequest("Hi.", "", settings, "english", false)).not.toHaveProperty("cfgWeight");
    expect(synthesizeRequest("Hi.", "", settings, "english", false)).toHaveProperty("exaggeration", 1.2);
  });
});
