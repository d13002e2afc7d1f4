"use client";

import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { createTRPCReact } from "@trpc/react-query";
import { useState, type ReactNode } from "react";

import type { AppRouter } from "@tts/api";
import { apiLinks } from "@tts/api/client";

import { makeQueryClient } from "./query-client";
import { forgetSessionToken, sessionHeaders } from "./session-token";

/** Typed hooks for the inference node's router: `api.health.useQuery()`. */
export const api = createTRPCReact<AppRouter>();

let browserQueryClient: QueryClient | undefined;

// One QueryClient per server request, one for the browser's lifetime.
function getQueryClient(): QueryClient {
  if (typeof window === "undefined") return makeQueryClient();
  // A refused credential is dropped, so the next call (or the query's retry) asks for a fresh one.
  return (browserQueryClient ??= makeQueryClient((error) => {
    if ((error as { data?: { code?: string } }).data?.code === "UNAUTHORIZED") forgetSessionToken();
  }));
}

export function TRPCReactProvider({ apiBase, children }: { apiBase: string; children: ReactNode }) {
  const queryClient = getQueryClient();
  const [trpcClient] = useState(() =>
    api.createClient({ links: apiLinks({ url: `${apiBase}/trpc`, headers: sessionHeaders }) }),
  );
  return (
    <api.Provider client={trpcClient} queryClient={queryClient}>
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    </api.Provider>
  );
}
