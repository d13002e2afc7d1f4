import { concatBytes, encodePcm16, wavHeader } from "@tts/audio/browser";

/**
 * Whatever the browser recorded (WebM/Opus in Chromium, MP4/AAC in Safari) as a mono 16-bit WAV, which is what
 * voice uploads take: decoded by the browser's own codecs, channels averaged, at the decoder's rate (the node
 * resamples).
 */
export async function recordingToWav(recording: Blob): Promise<{ wav: Uint8Array; seconds: number }> {
  const context = new AudioContext();
  try {
    const decoded = await context.decodeAudioData(await recording.arrayBuffer());
    const mono = new Float32Array(decoded.length);
    for (let channel = 0; channel < decoded.numberOfChannels; channel++) {
      const data = decoded.getChannelData(channel);
      for (let i = 0; i < mono.length; i++) mono[i]! += (data[i] ?? 0) / decoded.numberOfChannels;
    }
    const pcm = encodePcm16(mono);
    return {
      wav: concatBytes([wavHeader(decoded.sampleRate, "pcm16", pcm.length), pcm]),
      seconds: decoded.duration,
    };
  } finally {
    void context.close();
  }
}
