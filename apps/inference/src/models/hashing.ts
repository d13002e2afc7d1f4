import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";

import type { PublishedFile } from "./published";

export interface Digest {
  sha256: string;
  /** Only when asked for: the git blob id, which needs the size up front. */
  gitBlobSha1?: string;
}

/** SHA-256 of the bytes fed in order, and the git blob SHA-1 when the final size is known beforehand. */
export class ContentHasher {
  private readonly sha256 = createHash("sha256");
  private readonly gitBlob: Hash | undefined;

  constructor(gitBlobSize?: number) {
    this.gitBlob = gitBlobSize === undefined ? undefined : createHash("sha1").update(`blob ${gitBlobSize}\0`);
  }

  update(chunk: Uint8Array): void {
    this.sha256.update(chunk);
    this.gitBlob?.update(chunk);
  }

  digest(): Digest {
    const sha256 = this.sha256.digest("hex");
    return this.gitBlob ? { sha256, gitBlobSha1: this.gitBlob.digest("hex") } : { sha256 };
  }
}

/** Feeds the first `length` bytes of `file` to `hasher` (a resumed download hashes what it already has). */
export async function hashPrefix(hasher: ContentHasher, file: string, length: number): Promise<void> {
  if (length <= 0) return;
  for await (const chunk of createReadStream(file, { start: 0, end: length - 1, highWaterMark: 1 << 20 })) {
    hasher.update(chunk as Buffer);
  }
}

export async function hashFile(file: string, { gitBlob = false } = {}): Promise<Digest> {
  const hasher = new ContentHasher(gitBlob ? (await stat(file)).size : undefined);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }))
    hasher.update(chunk as Buffer);
  return hasher.digest();
}

/** The value of `digest` in the kind the hub published, for comparison and messages. */
export function digestOfKind(digest: Digest, kind: NonNullable<PublishedFile["hash"]>["kind"]): string {
  return (kind === "sha256" ? digest.sha256 : digest.gitBlobSha1) ?? "(not computed)";
}
