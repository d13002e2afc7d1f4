import { statIfExists } from "../fs/missing";
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
