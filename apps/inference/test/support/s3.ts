import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

import { S3Client } from "@aws-sdk/client-s3";

import { freePort } from "@tts/vitest-config/net";

const require = createRequire(import.meta.url);

export interface S3Server {
  endpoint: string;
  bucket: string;
  /** A client for it, as the node configures one for an S3-compatible endpoint. */
  client: () => S3Client;
  stop: () => Promise<void>;
}

/** A real S3-compatible server (s3rver, from npm) in its own process, with one empty bucket. */
export async function startS3Server(bucket = "tts-test"): Promise<S3Server> {
  const dir = mkdtempSync(path.join(tmpdir(), "tts-s3rver-"));
  const port = await freePort();
  const bin = path.join(path.dirname(require.resolve("s3rver/package.json")), "bin", "s3rver.js");
  const child = spawn(
    process.execPath,
    [bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent", "--configure-bucket", bucket],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`s3rver exited early:\n${output}`);
    const up = await fetch(endpoint).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`s3rver not listening after 20 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint,
    bucket,
    client: () =>
      new S3Client({
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
        // s3rver predates the SDK's default CRC checksums.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      }),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
