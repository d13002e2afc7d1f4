// Reads Dockerfiles and .dockerignore files the way BuildKit does, far enough for the image tests to check the
// images' settings and to start what each image starts (there is no Docker engine in CI's test step).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

export interface CopyInstruction {
  from?: string;
  sources: string[];
  dest: string;
}

export interface Healthcheck {
  options: Record<string, string>;
  command: string[];
}

/** Logical lines: continuations joined, comments (also those inside a continuation) and blank lines dropped. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let current = "";
  for (const raw of text.split(/\r?\n/)) {
    const trimmed = raw.trim();
    if (trimmed.startsWith("#") || trimmed === "") continue;
    if (trimmed.endsWith("\\")) {
      current += `${trimmed.slice(0, -1)} `;
      continue;
    }
    lines.push(`${current}${trimmed}`.trim());
    current = "";
  }
  if (current.trim()) lines.push(current.trim());
  return lines.filter(Boolean);
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === "FROM") {
      const words = args.split(/\s+/).filter((word) => !word.startsWith("--"));
      const [image = "", as, name] = words;
      stages.push({ image, ...(as?.toUpperCase() === "AS" && name && { name }), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${instruction.keyword} before the first FROM`);
    stage.instructions.push(instruction);
  }
  return stages;
}

export function readDockerfile(file: string): Stage[] {
  return parseDockerfile(readFileSync(file, "utf8"));
}

/** Shell-like words: quotes group, backslash escapes. */
function words(text: string): string[] {
  const result: string[] = [];
  let word = "";
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (char === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) result.push(word);
      word = "";
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) result.push(word);
  return result;
}

/** Exec form (a JSON array) as is; shell form the way Docker runs it. */
export function commandOf(args: string): string[] {
  if (args.trim().startsWith("[")) return JSON.parse(args) as string[];
  return ["/bin/sh", "-c", args];
}

/** The stages a stage builds on (FROM <earlier stage>), oldest first, itself last. */
function lineage(stages: Stage[], stage: Stage): Stage[] {
  const parent = stages.find((candidate) => candidate.name === stage.image && candidate !== stage);
  return parent ? [...lineage(stages, parent), stage] : [stage];
}

function instructionsOf(stages: Stage[], stage: Stage, keyword: string): Instruction[] {
  return lineage(stages, stage)
    .flatMap((ancestor) => ancestor.instructions)
    .filter((instruction) => instruction.keyword === keyword);
}

export function envOf(stages: Stage[], stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of instructionsOf(stages, stage, "ENV")) {
    const parts = words(args);
    if (parts.length > 0 && !parts[0]!.includes("=")) env[parts[0]!] = parts.slice(1).join(" ");
    else
      for (const part of parts) {
        const at = part.indexOf("=");
        env[part.slice(0, at)] = part.slice(at + 1);
      }
  }
  return env;
}

export function lastArgs(stages: Stage[], stage: Stage, keyword: string): string | undefined {
  return instructionsOf(stages, stage, keyword).at(-1)?.args;
}

export function workdirOf(stages: Stage[], stage: Stage): string {
  return instructionsOf(stages, stage, "WORKDIR").reduce(
    (dir, { args }) => path.posix.resolve(dir, args.trim()),
    "/",
  );
}

export function healthcheckOf(stages: Stage[], stage: Stage): Healthcheck | undefined {
  const args = lastArgs(stages, stage, "HEALTHCHECK");
  if (!args || /^NONE\b/i.test(args)) return undefined;
  const [, flags = "", command = ""] = /^((?:--\S+\s+)*)CMD\s+(.*)$/is.exec(args) ?? [];
  const options = Object.fromEntries(
    flags
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((flag) => flag.replace(/^--/, "").split("=") as [string, string]),
  );
  return { options, command: commandOf(command) };
}

export function copiesOf(stage: Stage): CopyInstruction[] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === "COPY")
    .map(({ args }) => {
      const parts = words(args);
      const flags = parts.filter((part) => part.startsWith("--"));
      const paths = parts.filter((part) => !part.startsWith("--"));
      const from = flags.find((flag) => flag.startsWith("--from="))?.slice("--from=".length);
      return { ...(from && { from }), sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" };
    });
}

/** BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile first, then .dockerignore at the context root. */
export function dockerignoreFor(dockerfile: string, contextDir: string): string | undefined {
  return [`${dockerfile}.dockerignore`, path.join(contextDir, ".dockerignore")].find((file) =>
    existsSync(file),
  );
}

/**
 * Whether a path (relative to the context, forward slashes) is left out of the build context: the last pattern
 * that matches it or one of its parent folders decides, `!` patterns re-including.
 */
export function isIgnored(patterns: string[], relativePath: string): boolean {
  const prefixes = relativePath.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const raw of patterns) {
    const exclude = !raw.startsWith("!");
    const pattern = path.posix.normalize((exclude ? raw : raw.slice(1)).trim()).replace(/^\/+|\/+$/g, "");
    if (prefixes.some((prefix) => path.posix.matchesGlob(prefix, pattern))) ignored = exclude;
  }
  return ignored;
}

export function readDockerignore(file: string): string[] {
  return readFileSync(file, "utf8")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
}
