import { describe, expect, it } from "vitest";

import {
  mintPeerToken,
  mintSessionToken,
  PEER_TOKEN_TTL_SECONDS,
  SESSION_TOKEN_TTL_SECONDS,
  signAudio,
  verifyAudioSignature,
  verifyPeerToken,
  verifySessionToken,
} from "./session-token";

const secret = "s".repeat(40);
const session = "abcdefghijklmnop0123";

describe("session tokens", () => {
  it("verify for their session until they expire, and not a second later", () => {
    const { token, expiresAt } = mintSessionToken(secret, { session, now: 1_000 });
    expect(expiresAt).toBe(1_000 + SESSION_TOKEN_TTL_SECONDS);
    expect(verifySessionToken(secret, token, 1_000)).toBe(session);
    expect(verifySessionToken(secret, token, expiresAt - 1)).toBe(session);
    expect(verifySessionToken(secret, token, expiresAt)).toBeNull();
  });

  it("refuse another secret, a changed session or expiry, and junk", () => {
    const { token } = mintSessionToken(secret, { session, now: 1_000 });
    expect(verifySessionToken("t".repeat(40), token, 1_000)).toBeNull();
    const [, exp, mac] = token.slice("tts-session.v1.".length).split(".");
    expect(verifySessionToken(secret, `tts-session.v1.${"x".repeat(20)}.${exp}.${mac}`, 1_000)).toBeNull();
    expect(
      verifySessionToken(secret, `tts-session.v1.${session}.${Number(exp) + 1}.${mac}`, 1_000),
    ).toBeNull();
    for (const junk of ["", "Bearer x", "tts-session.v1.", `${token}.extra`, token.slice(0, -2)])
      expect(verifySessionToken(secret, junk, 1_000)).toBeNull();
    expect(() => mintSessionToken(secret, { session: "short" })).toThrow(/16-64/);
  });
});

describe("signed audio URLs", () => {
  it("let the holder fetch that one id as its owner until they expire", () => {
    const query = signAudio(secret, { owner: "session-abc", id: "tts_1", expiresAt: 2_000 });
    expect(verifyAudioSignature(secret, "tts_1", query, 1_999)).toBe("session-abc");
    expect(verifyAudioSignature(secret, "tts_1", query, 2_000)).toBeNull();
    expect(verifyAudioSignature(secret, "tts_2", query, 1_000)).toBeNull();
    const otherOwner = new URLSearchParams(query);
    otherOwner.set("p", "alice");
    expect(verifyAudioSignature(secret, "tts_1", otherOwner, 1_000)).toBeNull();
    const later = new URLSearchParams(query);
    later.set("exp", "9999");
    expect(verifyAudioSignature(secret, "tts_1", later, 1_000)).toBeNull();
    expect(verifyAudioSignature(secret, "tts_1", new URLSearchParams(), 1_000)).toBeNull();
  });

  it("sign the format: a playback link cannot be turned into conversions, nor an MP3 link into another", () => {
    const plain = signAudio(secret, { owner: "o", id: "tts_1", expiresAt: 2_000 });
    const mp3 = signAudio(secret, { owner: "o", id: "tts_1", expiresAt: 2_000, format: "mp3" });
    expect(mp3.get("format")).toBe("mp3");
    expect(verifyAudioSignature(secret, "tts_1", mp3, 1_000)).toBe("o");
    const converted = new URLSearchParams(plain);
    converted.set("format", "mp3");
    expect(verifyAudioSignature(secret, "tts_1", converted, 1_000)).toBeNull();
    const other = new URLSearchParams(mp3);
    other.set("format", "flac");
    expect(verifyAudioSignature(secret, "tts_1", other, 1_000)).toBeNull();
  });

  it("are not session tokens: a MAC made for audio never verifies as a session", () => {
    const query = signAudio(secret, { owner: session, id: "x", expiresAt: 2_000 });
    const forged = `tts-session.v1.${session}.2000.${query.get("sig")}`;
    expect(verifySessionToken(secret, forged, 1_000)).toBeNull();
  });
});

describe("peer tokens", () => {
  it("act for their owner (dots and all) for a minute, with this secret only", () => {
    const token = mintPeerToken(secret, "team.alpha", 1_000);
    expect(verifyPeerToken(secret, token, 1_000)).toBe("team.alpha");
    expect(verifyPeerToken(secret, token, 1_000 + PEER_TOKEN_TTL_SECONDS - 1)).toBe("team.alpha");
    expect(verifyPeerToken(secret, token, 1_000 + PEER_TOKEN_TTL_SECONDS)).toBeNull();
    expect(verifyPeerToken("t".repeat(40), token, 1_000)).toBeNull();
  });

  it("cannot be turned into another owner, nor pass as a session token, nor a session token as one", () => {
    const token = mintPeerToken(secret, "alice", 1_000);
    const [, , , exp, mac] = token.split(".");
    const bob = Buffer.from("bob").toString("base64url");
    expect(verifyPeerToken(secret, `tts-peer.v1.${bob}.${exp}.${mac}`, 1_000)).toBeNull();
    expect(verifySessionToken(secret, token.replace("tts-peer", "tts-session"), 1_000)).toBeNull();
    const { token: sessionToken } = mintSessionToken(secret, { session, now: 1_000 });
    expect(verifyPeerToken(secret, sessionToken.replace("tts-session", "tts-peer"), 1_000)).toBeNull();
  });
});
