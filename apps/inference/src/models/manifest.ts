import { readFile } from "node:fs/promises";
import path from "node:path";

import { z } from "zod";

import { replaceFiles } from "../fs/atomic-write";
import { ifExists, statIfExists } from "../fs/missing";
import { hashFile } from "./hashing";
import type { ModelSpec } from "./registry";

/** Written by `downloadModel` into the model folder; records what every file was verified to be. */
export const MANIFEST_FILE = "manifest.json";

const entrySchema = z.object({
  path: z.string(),
  size: z.number().int().nonnegative(),
  mtimeMs: z.number(),
  /** SHA-256 of the bytes as saved: what later checks rehash against, whatever the hub published. */
  sha256: z.string(),
  /** The hub's published hash the bytes matched at download time; null where it published none. */
  hash: z.string().nullable(),
  hashKind: z.enum(["sha256", "git-blob-sha1"]).nullable(),
  source: z.enum(["tree-api", "x-linked-etag", "etag", "none"]),
});

const manifestSchema = z.object({
  version: z.literal(1),
  repo: z.string(),
  revision: z.string(),
  /** `X-Repo-Commit` as the hub sent it; null when no response carried it. */
  commit: z.string().nullable(),
  files: z.array(entrySchema),
});

export type ManifestEntry = z.infer<typeof entrySchema>;
export type Manifest = z.infer<typeof manifestSchema>;

export class ManifestError extends Error {
  override name = "ManifestError";
}

/**
 * The folder's manifest for `spec`'s repository and revision; undefined where there is none (a bundle folder,
 * or a cache made by an older version) or it describes another revision. Throws ManifestError if unreadable.
 */
export async function readManifest(dir: string, spec: ModelSpec): Promise<Manifest | undefined> {
  const file = path.join(dir, MANIFEST_FILE);
  const text = await ifExists(readFile(file, "utf8"));
  if (text === undefined) return undefined;
  let parsed;
  try {
    parsed = manifestSchema.safeParse(JSON.parse(text));
  } catch {
    throw new ManifestError(`${file} is not valid JSON.`);
  }
  if (!parsed.success) throw new ManifestError(`${file} is not a model manifest: ${parsed.error.message}`);
  const manifest = parsed.data;
  return manifest.repo === spec.repo && manifest.revision === spec.revision ? manifest : undefined;
}

export function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  return replaceFiles([[path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`]]);
}

export type EntryCheck = { ok: true; mtimeMs: number } | { ok: false; reason: string };

/**
 * Compares a file with its manifest entry. A different size is corruption; a moved mtime alone costs a
 * rehash of that file (copied or touched, perhaps intact); `rehash` rehashes whatever the mtime says.
 */
export async function checkEntry(
  file: string,
  entry: ManifestEntry,
  { rehash = false } = {},
): Promise<EntryCheck> {
  const stats = await statIfExists(file);
  if (!stats) return { ok: false, reason: "missing" };
  if (stats.size !== entry.size) {
    return { ok: false, reason: `size is ${stats.size} bytes, the manifest says ${entry.size}` };
  }
  if (!rehash && stats.mtimeMs === entry.mtimeMs) return { ok: true, mtimeMs: stats.mtimeMs };
  const { sha256 } = await hashFile(file);
  if (sha256 !== entry.sha256) {
    return { ok: false, reason: `SHA-256 is ${sha256}, the manifest says ${entry.sha256}` };
  }
  return { ok: true, mtimeMs: stats.mtimeMs };
}
