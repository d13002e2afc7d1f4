import base from "@tts/eslint-config/base";
import react from "@tts/eslint-config/react";

export default [...base, ...react];
