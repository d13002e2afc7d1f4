// The reliability suite's profile, read once: imported by vitest.reliability.config.ts and by the tests.
export type Profile = "ci" | "full";

function readProfile(): Profile {
  const value = (process.env.RELIABILITY_PROFILE ?? "ci").trim().toLowerCase() || "ci";
  if (value !== "ci" && value !== "full")
    throw new Error(`RELIABILITY_PROFILE must be "ci" or "full" (got ${JSON.stringify(value)})`);
  return value;
}

/** `ci` (the default, run by `npm test`) asserts correctness only; `full` (`pnpm bench`) adds timings and memory. */
export const PROFILE: Profile = readProfile();
export const FULL = PROFILE === "full";
