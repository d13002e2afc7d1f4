import type { ModelFile } from "./registry";

export interface DownloadProgress {
  /** "warning": a file the hub publishes no hash for, or a cached file found corrupt (see `message`). */
  type: "start" | "progress" | "file-done" | "skip" | "retry" | "warning" | "done";
  file?: string;
  bytes?: number;
  total?: number;
  overallBytes?: number;
  /** Sum of the sizes known so far: grows as the server reveals sizes the registry does not pin. */
  overallTotal?: number;
  /** On "retry": the attempt about to start (2 = first retry). */
  attempt?: number;
  error?: string;
  message?: string;
}

/** Keeps the byte counts of every file and turns them into DownloadProgress events, throttling "progress". */
export class DownloadProgressTracker {
  private readonly files = new Map<string, { bytes: number; total?: number; lastEmit: number }>();

  constructor(
    files: readonly ModelFile[],
    private readonly listener: ((event: DownloadProgress) => void) | undefined,
    private readonly intervalMs: number,
  ) {
    for (const file of files) {
      this.files.set(
        file.path,
        file.size === undefined ? { bytes: 0, lastEmit: 0 } : { bytes: 0, total: file.size, lastEmit: 0 },
      );
    }
  }

  start(file: string, bytes: number, total: number | undefined): void {
    this.set(file, bytes, total);
    this.emit("start", file);
  }

  update(file: string, bytes: number): void {
    const state = this.set(file, bytes);
    const now = performance.now();
    if (now - state.lastEmit < this.intervalMs) return;
    state.lastEmit = now;
    this.emit("progress", file);
  }

  fileDone(file: string, bytes: number): void {
    this.set(file, bytes, bytes);
    this.emit("file-done", file);
  }

  skip(file: string, bytes: number): void {
    this.set(file, bytes, bytes);
    this.emit("skip", file);
  }

  retry(file: string, attempt: number, error: string): void {
    this.emit("retry", file, { attempt, error });
  }

  warn(file: string, message: string): void {
    this.emit("warning", file, { message });
  }

  done(): void {
    this.emit("done");
  }

  private set(file: string, bytes: number, total?: number) {
    const state = this.files.get(file) ?? { bytes: 0, lastEmit: 0 };
    state.bytes = bytes;
    if (total !== undefined) state.total = total;
    this.files.set(file, state);
    return state;
  }

  private emit(type: DownloadProgress["type"], file?: string, extra?: Partial<DownloadProgress>): void {
    if (!this.listener) return;
    let overallBytes = 0;
    let overallTotal = 0;
    for (const state of this.files.values()) {
      overallBytes += state.bytes;
      overallTotal += state.total ?? 0;
    }
    const state = file === undefined ? undefined : this.files.get(file);
    this.listener({
      type,
      file,
      bytes: state?.bytes,
      total: state?.total,
      overallBytes,
      overallTotal,
      ...extra,
    });
  }
}
