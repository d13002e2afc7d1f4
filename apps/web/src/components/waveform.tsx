"use client";

import { useEffect, useRef, useState } from "react";

const BARS = 160;

/** Peak level per bar, 0..1, of the audio at `src` as the browser decodes it. */
async function peaksOf(src: string, signal: AbortSignal): Promise<Float32Array> {
  const response = await fetch(src, { signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const context = new OfflineAudioContext(1, 1, 24_000);
  const decoded = await context.decodeAudioData(await response.arrayBuffer());
  const samples = decoded.getChannelData(0);
  const peaks = new Float32Array(BARS);
  const per = Math.max(1, Math.floor(samples.length / BARS));
  for (let bar = 0; bar < BARS; bar++) {
    let peak = 0;
    for (let i = bar * per; i < Math.min(samples.length, (bar + 1) * per); i++)
      peak = Math.max(peak, Math.abs(samples[i]!));
    peaks[bar] = peak;
  }
  const loudest = Math.max(...peaks, 1e-6);
  return peaks.map((peak) => peak / loudest);
}

/**
 * The finished result's waveform: `played` (0..1) of it is highlighted, and a click asks to seek there. Arrow keys
 * seek too, so it works without a pointer.
 */
export function Waveform({
  src,
  played,
  onSeek,
  durationSeconds,
}: {
  src: string;
  played: number;
  durationSeconds: number;
  onSeek: (fraction: number) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [peaks, setPeaks] = useState<Float32Array>();
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    const abort = new AbortController();
    peaksOf(src, abort.signal).then(setPeaks, () => !abort.signal.aborted && setFailed(true));
    return () => abort.abort();
  }, [src]);

  useEffect(() => {
    const element = canvas.current;
    if (!element || !peaks) return;
    const scale = window.devicePixelRatio || 1;
    const { width, height } = element.getBoundingClientRect();
    element.width = Math.round(width * scale);
    element.height = Math.round(height * scale);
    const draw = element.getContext("2d");
    if (!draw) return;
    const style = getComputedStyle(element);
    const barWidth = element.width / peaks.length;
    peaks.forEach((peak, bar) => {
      const h = Math.max(2 * scale, peak * element.height * 0.9);
      draw.fillStyle =
        bar / peaks.length < played ? style.getPropertyValue("--accent") : style.getPropertyValue("--off");
      draw.fillRect(bar * barWidth + barWidth * 0.15, (element.height - h) / 2, barWidth * 0.7, h);
    });
  }, [peaks, played]);

  const seek = (x: number) => {
    const box = canvas.current?.getBoundingClientRect();
    if (box && box.width > 0) onSeek(Math.min(1, Math.max(0, (x - box.left) / box.width)));
  };

  if (failed) return null;
  return (
    <canvas
      ref={canvas}
      className="waveform"
      data-testid="waveform"
      data-ready={peaks ? "true" : undefined}
      role="slider"
      tabIndex={0}
      aria-label="Waveform of the result: seek"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(played * 100)}
      aria-valuetext={`${(played * durationSeconds).toFixed(1)} s of ${durationSeconds.toFixed(1)} s`}
      onClick={(event) => seek(event.clientX)}
      onKeyDown={(event) => {
        if (event.key === "ArrowRight") onSeek(Math.min(1, played + 0.05));
        if (event.key === "ArrowLeft") onSeek(Math.max(0, played - 0.05));
        if (event.key === "Home") onSeek(0);
        if (event.key === "End") onSeek(0.999);
      }}
    />
  );
}
