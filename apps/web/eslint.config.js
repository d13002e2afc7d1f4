import base from "@tts/eslint-config/base";
import react from "@tts/eslint-config/react";

export default [
  ...base,
  ...react,
  {
    // Client code takes only types from the API's root: its values include the router, and with it @trpc/server,
    // which refuses to load in a browser. Browser-safe values have their own entries (@tts/api/generation).
    files: ["src/components/**", "src/lib/**", "src/trpc/react.tsx", "src/trpc/session-token.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "@tts/api",
              allowTypeImports: true,
              message: "Import values from a browser-safe entry such as @tts/api/generation.",
            },
            {
              name: "@tts/audio",
              allowTypeImports: true,
              message:
                "Import values from @tts/audio/browser (the root pulls in wavefile and the MP3 encoder).",
            },
          ],
        },
      ],
    },
  },
];
