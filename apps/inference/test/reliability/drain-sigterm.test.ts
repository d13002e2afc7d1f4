/**
 * SIGTERM to a real `tts serve` process with streams open: responses in flight finish within the drain deadline;
 * past it, what has not answered yet gets 503 and a stream still running is cut; the process exits 0 either way.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { afterEach, describe, expect, it } from "vitest";

import { tinyBundle } from "../support/tiny";

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Served {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  log: () => string;
}

/** `tts serve` from source on an ephemeral port over a tiny bundle that never stops on its own. */
async function serve(env: Record<string, string>): Promise<Served> {
  const bundle = await tinyBundle({ variant: "turbo", stopAfter: null });
  const dataDir = mkdtempSync(path.join(tmpdir(), "tts-drain-"));
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve", "--port", "0"], {
    cwd: appDir,
    env: { ...process.env, TTS_MODEL_DIR: bundle.dir, DATA_DIR: dataDir, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push(() => {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"port":(\d+)[^\n]*inference node listening/.exec(output);
      if (match) resolve(Number(match[1]));
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${output}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400 && (await fetch(`${url}/readyz`)).status !== 200; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  return { child, url, exited, log: () => output };
}

/** A speech stream of `tokens` speech tokens, once its first bytes arrived; `rest` ends with the stream. */
async function openStream(url: string, tokens: number) {
  const response = await fetch(`${url}/v1/audio/speech`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      model: "tts-1",
      input: "A long reading.",
      response_format: "pcm",
      max_tokens: tokens,
    }),
  });
  expect(response.status).toBe(200);
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader();
  let bytes = (await reader.read()).value?.length ?? 0;
  const rest = (async (): Promise<{ complete: boolean; bytes: number }> => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { complete: true, bytes };
        bytes += value.length;
      }
    } catch {
      return { complete: false, bytes };
    }
  })();
  return { rest };
}

/** A voice upload that declares a body and never sends it: in flight, with nothing answered. */
function stalledUpload(url: string): Promise<string> {
  const { port } = new URL(url);
  const socket = connect(Number(port), "127.0.0.1");
  cleanups.push(() => socket.destroy());
  socket.write(
    "POST /trpc/voices.create HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n" +
      "Content-Length: 100000\r\n\r\n--b\r\n",
  );
  let reply = "";
  socket.on("data", (chunk: Buffer) => (reply += chunk.toString()));
  return new Promise((resolve) => socket.once("close", () => resolve(reply)));
}

describe("SIGTERM with streams open", () => {
  it("lets a stream finish inside the drain deadline, then exits 0", async () => {
    const node = await serve({ DRAIN_TIMEOUT_SECONDS: "60" });
    const stream = await openStream(node.url, 150);
    node.child.kill("SIGTERM");
    const result = await stream.rest;
    expect(result.complete).toBe(true);
    // 150 tokens of 40 ms at 24 kHz, 16-bit.
    expect(result.bytes).toBeGreaterThan(100 * 0.04 * 24_000 * 2);
    expect(await node.exited).toBe(0);
    expect(node.log()).toMatch(/shutting down/);
  });

  it("at the deadline: 503 for what has not answered, a cut for a stream still running, exit 0", async () => {
    const node = await serve({ DRAIN_TIMEOUT_SECONDS: "1", JOB_TIMEOUT_SECONDS: "600" });
    const stream = await openStream(node.url, 4000);
    const upload = stalledUpload(node.url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const signalled = performance.now();
    node.child.kill("SIGTERM");
    expect((await stream.rest).complete).toBe(false);
    expect(await upload).toMatch(/^HTTP\/1\.1 503/);
    expect(await node.exited).toBe(0);
    expect(performance.now() - signalled).toBeLessThan(30_000);
    expect(node.log()).toMatch(/drain timed out/);
  });
});
