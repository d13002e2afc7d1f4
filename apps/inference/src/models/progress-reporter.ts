import { Writable } from "node:stream";

import { MultiBar, type SingleBar } from "cli-progress";

import type { DownloadProgress } from "./download-progress";

export interface ProgressReporterOptions {
  /** Draw live bars (a terminal) or log one JSON object per line (CI, files, pipes). */
  tty: boolean;
  /** Receives raw output: terminal escape sequences on a TTY, `\n`-terminated JSON lines otherwise. */
  write: (chunk: string) => void;
  /** Terminal width for the bars (default 80). */
  columns?: number;
  /** Minimum gap between two logged "progress" lines of one file (default 2 s); other events always log. */
  logIntervalMs?: number;
}

export interface ProgressReporter {
  onProgress(event: DownloadProgress): void;
  stop(): void;
}

export function createProgressReporter(options: ProgressReporterOptions): ProgressReporter {
  return options.tty ? barReporter(options) : jsonReporter(options);
}

function jsonReporter({ write, logIntervalMs = 2_000 }: ProgressReporterOptions): ProgressReporter {
  const lastLogged = new Map<string, number>();
  return {
    onProgress(event) {
      if (event.type === "progress" && event.file !== undefined) {
        const now = performance.now();
        const last = lastLogged.get(event.file);
        if (last !== undefined && now - last < logIntervalMs) return;
        lastLogged.set(event.file, now);
      }
      const { type, ...fields } = event;
      write(`${JSON.stringify({ event: type, ...fields })}\n`);
    },
    stop() {},
  };
}

const MB = 1_000_000;

function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? "?" : (bytes / MB).toFixed(1);
}

function barReporter({ write, columns = 80 }: ProgressReporterOptions): ProgressReporter {
  // cli-progress drives a stream with cursor escapes; this one forwards them to `write` synchronously.
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        write(chunk.toString());
        callback();
      },
    }),
    { isTTY: true, columns },
  );
  const multibar = new MultiBar({
    stream,
    format: "{name} [{bar}] {percentage}% | {done}/{size} MB | {speed}",
    barsize: 24,
    hideCursor: true,
    autopadding: true,
  });
  const bars = new Map<string, { bar: SingleBar; startBytes: number; startTime: number }>();
  let overall: SingleBar | undefined;
  let stopped = false;
  // A second stop() would redraw every bar again; a reporter that drew nothing has nothing to restore.
  const stop = () => {
    if (overall && !stopped) multibar.stop();
    stopped = true;
  };

  const payload = (name: string, bytes: number, total: number | undefined, speed: string) => ({
    name: name.padEnd(36).slice(0, 36),
    done: megabytes(bytes),
    size: megabytes(total),
    speed,
  });

  const updateOverall = (event: DownloadProgress) => {
    const bytes = event.overallBytes ?? 0;
    const total = event.overallTotal ?? 0;
    overall ??= multibar.create(total, bytes, payload("all files", bytes, total, ""));
    overall.setTotal(total);
    overall.update(bytes, payload("all files", bytes, total, ""));
  };

  return {
    onProgress(event) {
      if (stopped) return;
      if (event.type === "done") {
        updateOverall(event);
        stop();
        return;
      }
      updateOverall(event);
      const { file, bytes = 0, total } = event;
      if (file === undefined) return;
      const entry = bars.get(file);
      switch (event.type) {
        case "start":
          if (entry) {
            entry.bar.setTotal(total ?? 0);
            entry.startBytes = bytes;
            entry.startTime = performance.now();
            entry.bar.update(bytes, payload(file, bytes, total, ""));
          } else {
            const bar = multibar.create(total ?? 0, bytes, payload(file, bytes, total, ""));
            bars.set(file, { bar, startBytes: bytes, startTime: performance.now() });
          }
          break;
        case "progress":
          if (entry) {
            const seconds = (performance.now() - entry.startTime) / 1000;
            const speed = seconds > 0 ? `${megabytes((bytes - entry.startBytes) / seconds)} MB/s` : "";
            entry.bar.update(bytes, payload(file, bytes, total, speed));
          }
          break;
        case "file-done":
          entry?.bar.update(bytes, payload(file, bytes, total, "done"));
          break;
        case "retry":
          multibar.log(`retrying ${file} (attempt ${event.attempt ?? "?"}): ${event.error ?? ""}\n`);
          break;
        case "warning":
          multibar.log(`warning: ${file}: ${event.message ?? ""}\n`);
          break;
        case "skip":
          break;
      }
    },
    stop,
  };
}
