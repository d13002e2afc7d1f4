import base from "@tts/eslint-config/base";

export default base;
