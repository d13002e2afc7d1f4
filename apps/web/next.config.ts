import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  reactStrictMode: true,
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
