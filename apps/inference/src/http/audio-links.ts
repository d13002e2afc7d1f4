import { randomBytes } from "node:crypto";

import type { AudioFormat } from "@tts/api";
import { AUDIO_URL_TTL_SECONDS, signAudio, verifyAudioSignature } from "@tts/api/session-token";

/**
 * Links to `/v1/audio/{id}` and `/v1/voices/{id}/audio` that media elements and download links can use. Without credentials on the node they
 * are plain paths; with them, each is signed for one result of one principal and expires, because a media element
 * cannot send `Authorization`. The secret is the session secret when there is one (links survive a restart and
 * work on every node sharing it), else a random one per process.
 */
export class AudioLinks {
  private readonly secret: string | undefined;

  constructor(signed: boolean, sessionSecret?: string) {
    this.secret = signed ? (sessionSecret ?? randomBytes(32).toString("base64url")) : undefined;
  }

  /** A result: `/v1/audio/{id}`, in `format` when given. */
  link(
    owner: string,
    id: string,
    format: AudioFormat | undefined,
  ): { url: string; expiresAt: number | null } {
    return this.signed(`/v1/audio/${encodeURIComponent(id)}`, owner, id, format);
  }

  /** A stored voice: `/v1/voices/{id}/audio`. Ids carry their kind (`voice_`, `tts_`), so no link opens both. */
  voice(owner: string, id: string): { url: string; expiresAt: number | null } {
    return this.signed(`/v1/voices/${encodeURIComponent(id)}/audio`, owner, id, undefined);
  }

  private signed(
    path: string,
    owner: string,
    id: string,
    format: AudioFormat | undefined,
  ): { url: string; expiresAt: number | null } {
    let query = new URLSearchParams(format ? { format } : {});
    let expiresAt: number | null = null;
    if (this.secret) {
      const exp = Math.floor(Date.now() / 1000) + AUDIO_URL_TTL_SECONDS;
      query = signAudio(this.secret, { owner, id, expiresAt: exp, ...(format && { format }) });
      expiresAt = exp * 1000;
    }
    const search = query.toString();
    return { url: `${path}${search ? `?${search}` : ""}`, expiresAt };
  }

  /** The principal a signed link speaks for, for this id only; null without a valid signature. */
  principalOf(id: string, query: URLSearchParams): string | null {
    return this.secret ? verifyAudioSignature(this.secret, id, query) : null;
  }
}
