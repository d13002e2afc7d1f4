import { describe, expect, it } from "vitest";

import { parseWebEnv, WebEnvError } from "./env";

describe("parseWebEnv", () => {
  it("defaults to the local inference node, as the earlier Python service did", () => {
    expect(parseWebEnv({})).toEqual({
      publicApiBase: "http://localhost:7860",
      internalApiBase: "http://localhost:7860",
    });
  });

  it("uses the internal URL for server-side calls when given and trims trailing slashes", () => {
    expect(
      parseWebEnv({
        NEXT_PUBLIC_TTS_API_BASE: "https://api.example.com/",
        TTS_API_INTERNAL_URL: "http://10.0.0.5:7860",
      }),
    ).toEqual({ publicApiBase: "https://api.example.com", internalApiBase: "http://10.0.0.5:7860" });
  });

  it("rejects a value that is not an http(s) URL, naming the variable", () => {
    expect(() => parseWebEnv({ NEXT_PUBLIC_TTS_API_BASE: "localhost:7860" })).toThrow(WebEnvError);
    expect(() => parseWebEnv({ NEXT_PUBLIC_TTS_API_BASE: "ftp://files.example.com" })).toThrow(
      /NEXT_PUBLIC_TTS_API_BASE="ftp:\/\/files.example.com": expected an http\(s\) URL/,
    );
  });
});
