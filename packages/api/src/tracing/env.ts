import { z } from "zod";

/**
 * Tracing configuration, from OpenTelemetry's standard variables (the names operators and collectors expect).
 * The only tracing module that reads process.env (lint allows env modules).
 */
const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

const EXPORTERS = ["otlp", "console", "none"] as const;

const endpoint = z.url({
  protocol: /^https?$/,
  message: 'expected an http(s) URL like "http://localhost:4318"',
});

const tracingEnvSchema = z.object({
  /** `true` turns tracing off whatever else is set (the SDK's own kill switch). */
  OTEL_SDK_DISABLED: z
    .string()
    .transform((value) => value.trim().toLowerCase() === "true")
    .default(false),
  /** Comma-separated: `otlp`, `console` (spans printed, for debugging), `none`. */
  OTEL_TRACES_EXPORTER: z
    .string()
    .transform((value) => value.split(",").map((part) => part.trim().toLowerCase()))
    .pipe(z.array(z.enum(EXPORTERS, { message: 'expected "otlp", "console" or "none"' })))
    .optional(),
  /** Base URL of an OTLP/HTTP receiver; traces go to `<base>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint.optional(),
  /** The full traces URL, used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .enum(["http/json", "http/protobuf"], {
      message: 'expected "http/json" or "http/protobuf" (gRPC is not built in)',
    })
    .optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
    .enum(["http/json", "http/protobuf"], {
      message: 'expected "http/json" or "http/protobuf" (gRPC is not built in)',
    })
    .optional(),
  OTEL_TRACES_SAMPLER: z
    .enum(SAMPLERS, { message: `expected one of ${SAMPLERS.join(", ")}` })
    .default("parentbased_always_on"),
  /** Milliseconds between exports of batched spans; what is still batched when a process is killed is lost. */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce
    .number({ message: "expected a whole number of milliseconds" })
    .int("expected a whole number of milliseconds")
    .min(1, "expected at least 1 ms")
    .max(600_000, "expected at most 600000 ms")
    .default(5000),
  /** The ratio of the `*traceidratio` samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ message: "expected a number from 0 to 1" })
    .min(0, "expected a number from 0 to 1")
    .max(1, "expected a number from 0 to 1")
    .optional(),
});

export type SamplerName = (typeof SAMPLERS)[number];

export type TracingSettings =
  | { enabled: false }
  | {
      enabled: true;
      exporters: ("otlp" | "console")[];
      /** Where OTLP spans are posted; undefined: the exporter's default, http://localhost:4318/v1/traces. */
      tracesUrl: string | undefined;
      sampler: { name: SamplerName; ratio: number };
      exportDelayMs: number;
    };

export class TracingEnvError extends Error {
  override name = "TracingEnvError";
}

/**
 * Tracing is on when an OTLP endpoint is set or OTEL_TRACES_EXPORTER names an exporter, and off otherwise (and
 * with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none). Empty values count as unset. Throws TracingEnvError
 * naming every bad variable.
 */
export function tracingSettings(
  source: Readonly<Record<string, string | undefined>> = process.env,
): TracingSettings {
  const present = Object.fromEntries(
    Object.entries(source).filter(
      ([key, value]) => key in tracingEnvSchema.shape && value !== undefined && value.trim() !== "",
    ),
  );
  const result = tracingEnvSchema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `  - ${key}=${JSON.stringify(present[key])}: ${issue.message}`;
    });
    throw new TracingEnvError(`Invalid tracing configuration:\n${problems.join("\n")}`);
  }
  const env = result.data;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  const named = env.OTEL_TRACES_EXPORTER ?? (tracesUrl ? ["otlp" as const] : []);
  const exporters = named.filter((name) => name !== "none");
  if (env.OTEL_SDK_DISABLED || exporters.length === 0) return { enabled: false };
  return {
    enabled: true,
    exporters: [...new Set(exporters)],
    tracesUrl,
    sampler: { name: env.OTEL_TRACES_SAMPLER, ratio: env.OTEL_TRACES_SAMPLER_ARG ?? 1 },
    exportDelayMs: env.OTEL_BSP_SCHEDULE_DELAY,
  };
}
