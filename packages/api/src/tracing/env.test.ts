import { describe, expect, it } from "vitest";

import { TracingEnvError, tracingSettings } from "./env";

describe("tracing settings from OTEL_* variables", () => {
  it("is off unless an endpoint or an exporter is named", () => {
    expect(tracingSettings({})).toEqual({ enabled: false });
    expect(tracingSettings({ OTEL_SERVICE_NAME: "tts", OTEL_EXPORTER_OTLP_ENDPOINT: "" })).toEqual({
      enabled: false,
    });
  });

  it("turns on with an endpoint, posting to its /v1/traces", () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318/" })).toEqual({
      enabled: true,
      exporters: ["otlp"],
      tracesUrl: "http://localhost:4318/v1/traces",
      sampler: { name: "parentbased_always_on", ratio: 1 },
      exportDelayMs: 5000,
    });
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/custom/traces",
      }),
    ).toMatchObject({ enabled: true, tracesUrl: "http://collector:4318/custom/traces" });
  });

  it("turns on with OTEL_TRACES_EXPORTER alone (the exporter's default endpoint, a local collector)", () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: "otlp" })).toMatchObject({
      enabled: true,
      exporters: ["otlp"],
      tracesUrl: undefined,
    });
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: "console, otlp" })).toMatchObject({
      exporters: ["console", "otlp"],
    });
  });

  it("stays off when told so, endpoint or not", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" };
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toEqual({ enabled: false });
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" })).toEqual({ enabled: false });
  });

  it("reads the batch export delay", () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: "otlp", OTEL_BSP_SCHEDULE_DELAY: "500" })).toMatchObject({
      exportDelayMs: 500,
    });
  });

  it("reads the sampler and its ratio", () => {
    expect(
      tracingSettings({
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
      }),
    ).toMatchObject({ sampler: { name: "parentbased_traceidratio", ratio: 0.25 } });
  });

  it("names every malformed variable", () => {
    const call = () =>
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4318",
        OTEL_TRACES_SAMPLER: "xray",
        OTEL_TRACES_SAMPLER_ARG: "2",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_TRACES_EXPORTER: "zipkin",
      });
    expect(call).toThrow(TracingEnvError);
    expect(call).toThrow(
      [
        "Invalid tracing configuration:",
        '  - OTEL_TRACES_EXPORTER="zipkin": expected "otlp", "console" or "none"',
        '  - OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318": expected an http(s) URL like "http://localhost:4318"',
        '  - OTEL_EXPORTER_OTLP_PROTOCOL="grpc": expected "http/json" or "http/protobuf" (gRPC is not built in)',
        '  - OTEL_TRACES_SAMPLER="xray": expected one of always_on, always_off, traceidratio, ' +
          "parentbased_always_on, parentbased_always_off, parentbased_traceidratio",
        '  - OTEL_TRACES_SAMPLER_ARG="2": expected a number from 0 to 1',
      ].join("\n"),
    );
  });
});
