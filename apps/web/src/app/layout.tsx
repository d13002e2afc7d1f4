import type { Metadata } from "next";
import { connection } from "next/server";
import type { ReactNode } from "react";

import { getWebEnv } from "../env";
import { TRPCReactProvider } from "../trpc/react";

import "./globals.css";

export const metadata: Metadata = {
  title: "Chatterbox TTS",
  description: "Self-hosted text-to-speech with voice cloning",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Configuration is read per request, so the same build can point at any inference node.
  await connection();
  const { publicApiBase } = getWebEnv();
  return (
    <html lang="en">
      <body>
        <TRPCReactProvider apiBase={publicApiBase}>{children}</TRPCReactProvider>
      </body>
    </html>
  );
}
