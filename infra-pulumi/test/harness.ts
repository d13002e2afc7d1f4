// Runs the Pulumi program under Pulumi's own mock runtime (no CLI, no cloud) and records every resource it
// registers, with its inputs as the engine would receive them.
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";

import { call, idOf, isSecret, SECRET_KEYS, stateOf, unwrap } from "./mocks.ts";

export {
  ACCOUNT,
  API_KEYS,
  BASE_CONFIG,
  idOf,
  METRICS_KEY,
  REGION,
  SESSION_SECRET,
  ZONE_ID,
} from "./mocks.ts";

export interface Registered {
  type: string;
  name: string;
  custom: boolean;
  /** Inputs with secrets unwrapped to their values. */
  inputs: Record<string, unknown>;
  /** Top-level inputs that arrived as Pulumi secrets. */
  secretInputs: string[];
}

export interface Program {
  resources: Registered[];
  /** Provider functions the program called (data sources), with their arguments. */
  calls: { token: string; inputs: Record<string, unknown> }[];
  outputs: Record<string, unknown>;
  ofType(type: string): Registered[];
  /** The one resource of a type (whose logical name matches, if given); fails on none or several. */
  one(type: string, name?: RegExp): Registered;
}

/** Resolves Outputs (also inside plain objects) to their values. */
async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) return resolve(await new Promise((done) => value.apply(done)));
  if (Array.isArray(value)) return Promise.all(value.map(resolve));
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(
      await Promise.all(Object.entries(value).map(async ([key, inner]) => [key, await resolve(inner)])),
    );
  return value;
}

/**
 * Runs index.ts as the stack `stack` with `config` (keys as in Pulumi.<stack>.yaml, `tts:...`), and returns what
 * it registered and exported. Secret settings are passed as secrets, as the CLI would.
 */
export async function runProgram(config: Record<string, string>, stack = "test"): Promise<Program> {
  const resources: Registered[] = [];
  const calls: Program["calls"] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const raw = args.inputs as Record<string, unknown>;
        const inputs = unwrap(raw) as Record<string, unknown>;
        resources.push({
          type: args.type,
          name: args.name,
          custom: args.custom ?? true,
          inputs,
          secretInputs: Object.keys(raw).filter((key) => isSecret(raw[key])),
        });
        return { id: idOf(args.type, args.name), state: stateOf(args.type, args.name, inputs) };
      },
      call(args) {
        calls.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
        return call(args);
      },
    },
    "tts",
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(
    config,
    Object.keys(config).filter((key) => SECRET_KEYS.includes(key.replace(/^tts:/, ""))),
  );
  vi.resetModules();
  const program = (await import("../index.ts")) as Record<string, unknown>;
  const outputs = (await resolve({ ...program })) as Record<string, unknown>;
  // Registrations still in flight (resources created inside applies) finish before anyone looks.
  const runtime = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };
  if (!runtime.waitForRPCs) throw new Error("@pulumi/pulumi no longer exposes runtime.waitForRPCs");
  await runtime.waitForRPCs();

  const ofType = (type: string) => resources.filter((resource) => resource.type === type);
  return {
    resources,
    calls,
    outputs,
    ofType,
    one(type, name) {
      const matches = ofType(type).filter((resource) => !name || name.test(resource.name));
      if (matches.length !== 1)
        throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${matches.length}`);
      return matches[0]!;
    },
  };
}

/** A JSON-string input (policy documents, container definitions), parsed. */
export function json<T = unknown>(resource: Registered, key: string): T {
  const value = resource.inputs[key];
  if (typeof value !== "string") throw new Error(`${resource.name}.${key} is not a JSON string`);
  return JSON.parse(value) as T;
}

export interface ContainerDefinition {
  name: string;
  image: string;
  essential?: boolean;
  environment?: { name: string; value: string }[];
  secrets?: { name: string; valueFrom: string }[];
  resourceRequirements?: { type: string; value: string }[];
  portMappings?: { containerPort: number }[];
  mountPoints?: { sourceVolume: string; containerPath: string }[];
  stopTimeout?: number;
  dependsOn?: { containerName: string; condition: string }[];
}

export function containers(taskDefinition: Registered): ContainerDefinition[] {
  return json<ContainerDefinition[]>(taskDefinition, "containerDefinitions");
}

export function env(container: ContainerDefinition): Record<string, string> {
  return Object.fromEntries((container.environment ?? []).map(({ name, value }) => [name, value]));
}

export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}

export function statements(resource: Registered, key = "policy"): PolicyStatement[] {
  return json<{ Statement: PolicyStatement[] }>(resource, key).Statement;
}

export const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
