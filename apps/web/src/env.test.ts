import { describe, expect, it } from "vitest";

import { parseWebEnv, WebEnvError } from "./env";

describe("parseWebEnv", () => {
  it("defaults to the local inference node, as the earlier Python service did", () => {
    expect(parseWebEnv({})).toEqual({
      publicApiBase: "http://localhost:7860",
      internalApiBase: "http://localhost:7860",
      tokenMintsPerMinute: 30,
      trustedProxyHops: 0,
    });
  });

  it("takes the session secret and site password, and refuses a password with nothing to sign sessions", () => {
    const secret = "x".repeat(32);
    expect(parseWebEnv({ TTS_SESSION_SECRET: secret, SITE_PASSWORD: "open sesame" })).toMatchObject({
      sessionSecret: secret,
      sitePassword: "open sesame",
    });
    expect(() => parseWebEnv({ SITE_PASSWORD: "open sesame" })).toThrow(
      /SITE_PASSWORD needs TTS_SESSION_SECRET/,
    );
    expect(() => parseWebEnv({ TTS_SESSION_SECRET: "short" })).toThrow(
      /TTS_SESSION_SECRET \(value hidden\): expected at least 32 characters/,
    );
  });

  it("uses the internal URL for server-side calls when given and trims trailing slashes", () => {
    expect(
      parseWebEnv({
        NEXT_PUBLIC_TTS_API_BASE: "https://api.example.com/",
        TTS_API_INTERNAL_URL: "http://10.0.0.5:7860",
      }),
    ).toEqual({
      publicApiBase: "https://api.example.com",
      internalApiBase: "http://10.0.0.5:7860",
      tokenMintsPerMinute: 30,
      trustedProxyHops: 0,
    });
  });

  it("rejects a value that is not an http(s) URL, naming the variable", () => {
    expect(() => parseWebEnv({ NEXT_PUBLIC_TTS_API_BASE: "localhost:7860" })).toThrow(WebEnvError);
    expect(() => parseWebEnv({ NEXT_PUBLIC_TTS_API_BASE: "ftp://files.example.com" })).toThrow(
      /NEXT_PUBLIC_TTS_API_BASE="ftp:\/\/files.example.com": expected an http\(s\) URL/,
    );
  });
});
