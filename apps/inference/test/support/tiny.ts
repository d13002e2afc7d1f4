import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { makeTinyBundle, type TinyBundle, type TinyBundleOptions } from "../../src/tiny/make-tiny";

const made = new Map<string, Promise<TinyBundle>>();

/** A tiny-random bundle in a fresh temp folder, made once per distinct options within a test file. */
export function tinyBundle(options: TinyBundleOptions): Promise<TinyBundle> {
  const key = JSON.stringify(options);
  let bundle = made.get(key);
  if (!bundle) {
    bundle = makeTinyBundle(mkdtempSync(path.join(tmpdir(), `tiny-${options.variant}-`)), options);
    made.set(key, bundle);
  }
  return bundle;
}
