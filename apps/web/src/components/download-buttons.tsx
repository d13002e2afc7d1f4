"use client";

import { useState } from "react";

import type { AudioFormat } from "@tts/api";

import { startDownload } from "../lib/download";
import { api } from "../trpc/react";

/** Downloads offered for a result: WAV as stored, MP3 converted on the fly (when the node can encode it). */
const OFFERED: AudioFormat[] = ["wav", "mp3"];

export function DownloadButtons({
  id,
  apiBase,
  formats,
}: {
  id: string;
  apiBase: string;
  formats: AudioFormat[];
}) {
  const utils = api.useUtils();
  const [failure, setFailure] = useState<string>();
  const download = async (format: AudioFormat) => {
    setFailure(undefined);
    try {
      // A fresh link each time: links expire, and media elements cannot send the session's token.
      const link = await utils.tts.audioLink.fetch({ id, format, download: true }, { staleTime: 0 });
      startDownload(`${apiBase}${link.url}`);
    } catch (error) {
      setFailure(error instanceof Error ? error.message : String(error));
    }
  };
  return (
    <span className="downloads">
      {OFFERED.filter((format) => formats.includes(format)).map((format) => (
        <button
          key={format}
          type="button"
          className="secondary"
          data-testid={`download-${format}`}
          onClick={() => void download(format)}
        >
          ↓ {format.toUpperCase()}
        </button>
      ))}
      {failure && (
        <span role="alert" className="error-text">
          Download failed: {failure}
        </span>
      )}
    </span>
  );
}
