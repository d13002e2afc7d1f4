import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { AUDIO_FORMATS, type AudioFormat } from "@tts/api";

import { FFMPEG_CODECS, isFfmpegFormat } from "./audio-formats";

const run = promisify(execFile);

/** What this node can encode, found once at start. */
export interface FormatSupport {
  /** The ffmpeg command the encoder thread runs. */
  ffmpeg: string;
  available: AudioFormat[];
  /** Why each other format cannot be produced: the message a request for it is answered with (501). */
  missing: Partial<Record<AudioFormat, string>>;
}

/** Asks ffmpeg (`path`, else `ffmpeg` on PATH) which of the encoders the ffmpeg formats need it has. */
export async function detectFormats(path?: string): Promise<FormatSupport> {
  const ffmpeg = path ?? "ffmpeg";
  let encoders = new Set<string>();
  let problem: string | undefined;
  try {
    const { stdout } = await run(ffmpeg, ["-hide_banner", "-encoders"], { timeout: 10_000 });
    // Lines like " A..... libopus   libopus Opus (codec opus)": capability flags (A = audio), then the name.
    encoders = new Set(Array.from(stdout.matchAll(/^ A\S{5} (\S+)/gm), (match) => match[1]!));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problem =
      code === "ENOENT"
        ? path
          ? `not found at ${path}`
          : "not found on PATH"
        : `${ffmpeg} failed: ${(error as Error).message}`;
  }
  const available: AudioFormat[] = [];
  const missing: FormatSupport["missing"] = {};
  for (const format of AUDIO_FORMATS) {
    if (!isFfmpegFormat(format) || encoders.has(FFMPEG_CODECS[format].encoder)) {
      available.push(format);
      continue;
    }
    const { encoder } = FFMPEG_CODECS[format];
    missing[format] =
      `Format ${format} needs ffmpeg with ${encoder} on the inference node ` +
      `(${problem ?? `${ffmpeg} has no ${encoder} encoder`}); install Debian's ffmpeg, or set FFMPEG_PATH.`;
  }
  return { ffmpeg, available, missing };
}
