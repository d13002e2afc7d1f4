import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  reactStrictMode: true,
  // Workspace packages export TypeScript source.
  transpilePackages: ["@tts/api", "@tts/audio"],
  // `pnpm typecheck` and `pnpm lint` run as their own turbo tasks; the build does not repeat them.
  typescript: { ignoreBuildErrors: true },
};

export default nextConfig;
