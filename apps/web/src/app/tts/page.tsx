import { dehydrate, HydrationBoundary } from "@tanstack/react-query";
import { cookies } from "next/headers";

import { HealthPanel } from "../../components/health-panel";
import { StatusBadge } from "../../components/status-badge";
import { Studio } from "../../components/studio";
import { UnlockForm } from "../../components/unlock-form";
import { resolveWebEnv } from "../../env";
import { SESSION_COOKIE } from "../../server/session-cookie";
import { sessionOf } from "../../server/session-routes";
import { createPrefetchHelpers } from "../../trpc/server";

export default async function TtsPage() {
  const env = await resolveWebEnv();
  const locked = sessionOf(env, (await cookies()).get(SESSION_COOKIE)?.value) === "locked";
  const header = (
    <header className="masthead">
      <div>
        <h1>Chatterbox TTS</h1>
        <p className="muted">Natural speech in your own voice, generated on your own inference node.</p>
      </div>
      {!locked && <StatusBadge />}
    </header>
  );
  if (locked)
    return (
      <main className="page">
        {header}
        <UnlockForm />
      </main>
    );
  // Only public data is prefetched on the server: voices and history belong to the browser's own session.
  const helpers = createPrefetchHelpers();
  await helpers.health.prefetch();
  return (
    <main className="page">
      <HydrationBoundary state={dehydrate(helpers.queryClient)}>
        {header}
        <Studio apiBase={env.publicApiBase} />
        <HealthPanel apiBase={env.publicApiBase} />
      </HydrationBoundary>
    </main>
  );
}
