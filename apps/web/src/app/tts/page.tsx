import { dehydrate, HydrationBoundary } from "@tanstack/react-query";

import { HealthPanel } from "../../components/health-panel";
import { SpeakPanel } from "../../components/speak-panel";
import { getWebEnv } from "../../env";
import { createPrefetchHelpers } from "../../trpc/server";

export default async function TtsPage() {
  const helpers = createPrefetchHelpers();
  await helpers.health.prefetch();
  return (
    <main className="page">
      <header>
        <h1>Chatterbox TTS</h1>
        <p className="muted">Natural speech in your own voice, generated on your own inference node.</p>
      </header>
      <HydrationBoundary state={dehydrate(helpers.queryClient)}>
        <SpeakPanel apiBase={getWebEnv().publicApiBase} />
        <HealthPanel apiBase={getWebEnv().publicApiBase} />
      </HydrationBoundary>
    </main>
  );
}
