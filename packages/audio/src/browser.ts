// What pages may import (`@tts/audio/browser`): nothing here pulls in wavefile or the MP3 encoder.
export { concatBytes } from "./bytes";
export { encodePcm16, floatToInt16, int16ToFloat } from "./pcm";
export { UNKNOWN_LENGTH, wavHeader } from "./wav-header";
