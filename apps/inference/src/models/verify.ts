import { statIfExists } from "../fs/missing";
import { checkEntry, readManifest, writeManifest } from "./manifest";
import { localFilePath, type ModelSpec } from "./registry";

/** Checks that every file is present, non-empty and, where the registry pins it, of the right size. */
export async function verifyModel(
  spec: ModelSpec,
  dir: string,
): Promise<{ ok: boolean; problems: string[] }> {
  const found = await Promise.all(
    spec.files.map(async (file) => (await statIfExists(localFilePath(dir, file.path)))?.size),
  );
  const problems = spec.files.flatMap((file, i) => {
    const size = found[i];
    if (size === undefined) return [`missing: ${file.path}`];
    if (size === 0) return [`empty: ${file.path}`];
    if (file.size !== undefined && size !== file.size) {
      return [`wrong size: ${file.path} (expected ${file.size} bytes, found ${size})`];
    }
    return [];
  });
  return { ok: problems.length === 0, problems };
}

/**
 * The startup check: every file's size and mtime against the manifest, rehashing only a file whose mtime moved
 * (and saving its new mtime when it still matches). False when there is no manifest or any file fails: the
 * download then repairs the cache.
 */
export async function cacheMatchesManifest(spec: ModelSpec, dir: string): Promise<boolean> {
  const manifest = await readManifest(dir, spec).catch(() => undefined);
  if (!manifest) return false;
  let moved = false;
  for (const file of spec.files) {
    const entry = manifest.files.find((e) => e.path === file.path);
    if (!entry) return false;
    const check = await checkEntry(localFilePath(dir, file.path), entry);
    if (!check.ok) return false;
    if (check.mtimeMs !== entry.mtimeMs) {
      entry.mtimeMs = check.mtimeMs;
      moved = true;
    }
  }
  if (moved) await writeManifest(dir, manifest);
  return true;
}

export interface FileVerdict {
  path: string;
  status: "ok" | "MISMATCH" | "missing";
  detail?: string;
}

/**
 * `tts models verify`: rehashes every file against the manifest. A folder without one (a bundle given with
 * TTS_MODEL_DIR) can only be checked for presence and the sizes the registry pins. Throws ManifestError when
 * the manifest is unreadable.
 */
export async function verifyAgainstManifest(
  spec: ModelSpec,
  dir: string,
): Promise<{ manifest: boolean; files: FileVerdict[] }> {
  const manifest = await readManifest(dir, spec);
  const files: FileVerdict[] = [];
  for (const file of spec.files) {
    const local = localFilePath(dir, file.path);
    const entry = manifest?.files.find((e) => e.path === file.path);
    if (manifest && !entry) {
      const present = (await statIfExists(local)) !== undefined;
      files.push({ path: file.path, status: "missing", detail: present ? "not in the manifest" : undefined });
      continue;
    }
    if (entry) {
      const check = await checkEntry(local, entry, { rehash: true });
      if (check.ok) files.push({ path: file.path, status: "ok" });
      else if (check.reason === "missing") files.push({ path: file.path, status: "missing" });
      else files.push({ path: file.path, status: "MISMATCH", detail: check.reason });
      continue;
    }
    const size = (await statIfExists(local))?.size;
    if (size === undefined) files.push({ path: file.path, status: "missing" });
    else if (size === 0) files.push({ path: file.path, status: "MISMATCH", detail: "empty" });
    else if (file.size !== undefined && size !== file.size) {
      files.push({
        path: file.path,
        status: "MISMATCH",
        detail: `size is ${size} bytes, expected ${file.size}`,
      });
    } else files.push({ path: file.path, status: "ok" });
  }
  return { manifest: manifest !== undefined, files };
}
