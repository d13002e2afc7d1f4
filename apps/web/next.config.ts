import path from "node:path";
import { fileURLToPath } from "node:url";

import type { NextConfig } from "next";

/** The monorepo root: workspace packages and pnpm's store live above this app. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const nextConfig: NextConfig = {
  reactStrictMode: true,
  // The container image runs the traced server alone (apps/web/Dockerfile: `node apps/web/server.js`). Tracing
  // from the repository root takes in the workspace packages and pnpm's symlinked store; the server then sits at
  // .next/standalone/apps/web/server.js. Turbopack gets the same root so both agree on it.
  output: "standalone",
  outputFileTracingRoot: repoRoot,
  turbopack: { root: repoRoot },
  // Workspace packages export TypeScript source.
  transpilePackages: ["@tts/api", "@tts/audio"],
  // `pnpm typecheck` and `pnpm lint` run as their own turbo tasks; the build does not repeat them.
  typescript: { ignoreBuildErrors: true },
  // The page holds a session that can speak and delete: no other site may frame it (clickjacking).
  headers: () =>
    Promise.resolve([
      {
        source: "/:path*",
        headers: [
          { key: "Content-Security-Policy", value: "frame-ancestors 'none'" },
          { key: "X-Frame-Options", value: "DENY" },
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
        ],
      },
    ]),
};

export default nextConfig;
