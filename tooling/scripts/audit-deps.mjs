#!/usr/bin/env node
// `pnpm audit:deps`: checks every dependency (production and development) against the npm registry's advisory
// service and fails on any high or critical finding. Not part of `npm test`: it needs that service, and a new
// advisory would fail a commit that changed nothing. docs/reliability.md records the latest result.
import { spawnSync } from "node:child_process";

const result = spawnSync("pnpm", ["audit", "--json"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
/** @type {any} pnpm's audit report (npm's advisory format), read field by field below */
let report;
try {
  report = JSON.parse(result.stdout);
} catch {
  const reason = `${result.stderr}${result.stdout}`.trim().split("\n").slice(0, 6).join("\n");
  console.error(`The advisory service could not be asked (pnpm audit exited ${result.status}):\n${reason}`);
  process.exit(2);
}
if (report.error) {
  console.error(
    `The advisory service answered with an error: ${report.error.code ?? ""} ${report.error.summary ?? ""}`,
  );
  process.exit(2);
}

const counts = report.metadata?.vulnerabilities ?? {};
console.log(
  `Advisories: ${["critical", "high", "moderate", "low", "info"].map((level) => `${counts[level] ?? 0} ${level}`).join(", ")}`,
);
const serious = Object.values(report.advisories ?? {}).filter(
  (a) => a.severity === "high" || a.severity === "critical",
);
for (const advisory of serious) {
  const paths =
    advisory.findings
      ?.flatMap((/** @type {{ paths?: string[] }} */ finding) => finding.paths ?? [])
      .slice(0, 3) ?? [];
  console.log(
    `- ${advisory.severity}: ${advisory.module_name} ${advisory.vulnerable_versions}: ${advisory.title}`,
  );
  console.log(`  ${advisory.url}; via ${paths.join(", ")}`);
}
process.exit(serious.length > 0 ? 1 : 0);
