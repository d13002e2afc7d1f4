/** Sample rate of every Chatterbox graph's audio input and output. */
export const MODEL_SAMPLE_RATE = 24_000;
