// How the inference service is wired: settings the node reads, timeouts that must agree, telemetry, scaling.
import { beforeAll, describe, expect, test } from "vitest";

import { collectorConfig } from "../src/observability.ts";
import { BASE_CONFIG, containers, env, runProgram, type Program } from "./harness.ts";

let program: Program;
let scaled: Program;
beforeAll(async () => {
  program = await runProgram(BASE_CONFIG);
  scaled = await runProgram({
    ...BASE_CONFIG,
    "tts:minTasks": "2",
    "tts:maxTasks": "7",
    "tts:targetJobsPerTask": "3",
    "tts:taskSubnets": "private",
    "tts:alarmEmail": "ops@example.com",
    "tts:drainTimeoutSeconds": "100",
    "tts:inferenceEnv": JSON.stringify({ QUEUE_SIZE: 32, LOG_LEVEL: "debug" }),
    "tts:imageTag": "3f2c1ab",
  });
});

const inferenceTask = (p: Program) => p.one("aws:ecs/taskDefinition:TaskDefinition", /-inference$/);

describe("inference node settings", () => {
  test("the node gets its port, bucket, prefix, TTL, drain deadline, cache, CORS origin and telemetry endpoint", () => {
    const [node] = containers(inferenceTask(program));
    expect(env(node!)).toEqual({
      PORT: "7860",
      HOST: "0.0.0.0",
      CORS_ORIGINS: "https://tts.example.com",
      TRUSTED_PROXIES: "10.40.0.0/20,10.40.16.0/20",
      S3_BUCKET: "tts-test-data-id",
      S3_PREFIX: "tts/",
      AWS_REGION: "eu-west-1",
      AUDIO_TTL_SECONDS: "3600",
      DRAIN_TIMEOUT_SECONDS: "90",
      HTTP_KEEP_ALIVE_SECONDS: "605",
      TTS_CACHE_DIR: "/var/lib/tts/models",
      TTS_MODEL: "turbo",
      TTS_DTYPE: "q4",
      TTS_DEVICE: "cpu",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318",
      OTEL_SERVICE_NAME: "tts-test-inference",
    });
    expect(node!.portMappings).toEqual([expect.objectContaining({ containerPort: 7860 })]);
    const [scaledNode] = containers(inferenceTask(scaled));
    expect(env(scaledNode!)).toMatchObject({
      QUEUE_SIZE: "32",
      LOG_LEVEL: "debug",
      DRAIN_TIMEOUT_SECONDS: "100",
    });
  });

  test("drain deadline < stop timeout, and the ALB keeps a deregistered task as long as the node drains", () => {
    for (const [p, drain] of [
      [program, 90],
      [scaled, 100],
    ] as const) {
      const [node] = containers(inferenceTask(p));
      expect(node!.stopTimeout).toBe(120);
      expect(drain).toBeLessThan(node!.stopTimeout! - 10);
      expect(p.one("aws:lb/targetGroup:TargetGroup", /-api$/).inputs.deregistrationDelay).toBe(drain);
    }
  });

  test("readiness is the target group's health check; idle timeout outlasts the node's longest silences", () => {
    const group = program.one("aws:lb/targetGroup:TargetGroup", /-api$/);
    expect(group.inputs).toMatchObject({
      port: 7860,
      targetType: "ip",
      healthCheck: { path: "/readyz", matcher: "200" },
    });
    const alb = program.one("aws:lb/loadBalancer:LoadBalancer");
    expect(alb.inputs.idleTimeout).toBe(600);
    expect(alb.inputs.idleTimeout as number).toBeGreaterThan(300); // JOB_TIMEOUT_SECONDS, the request body limit
    expect(alb.inputs.idleTimeout as number).toBeLessThanOrEqual(4000);
  });

  test("the service sits behind the ALB, in the task subnets, with a public IP only without NAT", () => {
    const service = program.one("aws:ecs/service:Service", /-inference$/);
    expect(service.inputs).toMatchObject({
      name: "inference",
      desiredCount: 1,
      loadBalancers: [{ containerName: "inference", containerPort: 7860 }],
      networkConfiguration: {
        subnets: ["subnet-tts-test-public-0", "subnet-tts-test-public-1"],
        assignPublicIp: true,
      },
      deploymentCircuitBreaker: { enable: true, rollback: true },
      deploymentMaximumPercent: 200,
    });
    expect(scaled.one("aws:ecs/service:Service", /-inference$/).inputs.networkConfiguration).toMatchObject({
      subnets: ["subnet-tts-test-private-0", "subnet-tts-test-private-1"],
      assignPublicIp: false,
    });
    expect(scaled.ofType("aws:ec2/natGateway:NatGateway")).toHaveLength(2);
    expect(program.ofType("aws:ec2/natGateway:NatGateway")).toHaveLength(0);
  });

  test("the VPC spans two AZs; S3 goes through a gateway endpoint", () => {
    const subnets = program.ofType("aws:ec2/subnet:Subnet");
    expect(subnets.map((subnet) => subnet.inputs.availabilityZone)).toEqual(["eu-west-1a", "eu-west-1b"]);
    expect(program.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs).toMatchObject({
      serviceName: "com.amazonaws.eu-west-1.s3",
      vpcEndpointType: "Gateway",
    });
  });
});

describe("images and cluster", () => {
  test("three repositories, scanned on push, pruned by a lifecycle policy; container insights on", () => {
    const repositories = program.ofType("aws:ecr/repository:Repository");
    expect(repositories.map((repository) => repository.inputs.name)).toEqual([
      "tts-test/inference-cpu",
      "tts-test/inference-cuda",
      "tts-test/web",
    ]);
    for (const repository of repositories)
      expect(repository.inputs.imageScanningConfiguration).toEqual({ scanOnPush: true });
    const policies = program.ofType("aws:ecr/lifecyclePolicy:LifecyclePolicy");
    expect(policies).toHaveLength(3);
    const rules = (JSON.parse(policies[0]!.inputs.policy as string) as { rules: { action: unknown }[] })
      .rules;
    expect(rules.every((rule) => JSON.stringify(rule.action) === '{"type":"expire"}')).toBe(true);
    expect(program.one("aws:ecs/cluster:Cluster").inputs.settings).toEqual([
      { name: "containerInsights", value: "enabled" },
    ]);
  });

  test("tts:imageTag picks the tag CI pushed (default: latest)", () => {
    const [node] = containers(inferenceTask(scaled));
    expect(node!.image).toBe("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tts-test/inference-cpu:3f2c1ab");
    const [web] = containers(scaled.one("aws:ecs/taskDefinition:TaskDefinition", /-web$/));
    expect(web!.image).toBe("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tts-test/web:3f2c1ab");
    expect(containers(inferenceTask(program))[0]!.image).toMatch(/:latest$/);
  });
});

describe("observability", () => {
  interface CollectorConfig {
    receivers: {
      otlp: { protocols: { http: { endpoint: string } } };
      prometheus: {
        config: {
          scrape_configs: {
            metrics_path: string;
            authorization: { type: string; credentials: string };
            static_configs: { targets: string[]; labels: Record<string, string> }[];
          }[];
        };
      };
    };
    exporters: { awsemf: { namespace: string; log_group_name: string; metric_declarations: unknown[] } };
    service: { pipelines: Record<string, { receivers: string[]; exporters: string[] }> };
  }

  test("an ADOT collector beside the node: OTLP on 4318 to X-Ray, the node's /metrics to CloudWatch (EMF)", () => {
    const [node, collector] = containers(inferenceTask(program));
    expect(collector).toMatchObject({
      name: "collector",
      image: "public.ecr.aws/aws-observability/aws-otel-collector:v0.45.1",
      essential: false,
    });
    expect(node!.dependsOn).toEqual([{ containerName: "collector", condition: "START" }]);
    const config = JSON.parse(env(collector!).AOT_CONFIG_CONTENT!) as CollectorConfig;
    expect(config).toEqual(
      JSON.parse(
        collectorConfig({
          region: "eu-west-1",
          metrics: {
            clusterName: "tts-test",
            serviceName: "inference",
            metricsLogGroup: "/tts/tts-test/metrics",
          },
        }),
      ),
    );
    expect(config.receivers.otlp.protocols.http.endpoint).toBe("127.0.0.1:4318");
    const [scrape] = config.receivers.prometheus.config.scrape_configs;
    expect(scrape).toMatchObject({
      metrics_path: "/metrics",
      authorization: { type: "Bearer", credentials: "${env:METRICS_KEY}" },
      static_configs: [
        { targets: ["127.0.0.1:7860"], labels: { ClusterName: "tts-test", ServiceName: "inference" } },
      ],
    });
    expect(config.exporters.awsemf).toMatchObject({
      namespace: "TTS/Inference",
      log_group_name: "/tts/tts-test/metrics",
      metric_declarations: [
        {
          dimensions: [["ClusterName", "ServiceName"]],
          metric_name_selectors: ["^tts_queue_depth$", "^tts_jobs_in_flight$"],
        },
      ],
    });
    expect(config.service.pipelines).toMatchObject({
      traces: { receivers: ["otlp"], exporters: ["awsxray"] },
      metrics: { receivers: ["prometheus"], exporters: ["awsemf"] },
    });
  });

  test("every log group has a retention, and the containers log to theirs", () => {
    const groups = program.ofType("aws:cloudwatch/logGroup:LogGroup");
    expect(groups.map((group) => group.inputs.name).sort()).toEqual([
      "/tts/tts-test/collector",
      "/tts/tts-test/inference",
      "/tts/tts-test/metrics",
      "/tts/tts-test/web",
      "/tts/tts-test/web-collector",
    ]);
    for (const group of groups) expect(group.inputs.retentionInDays).toBe(30);
    const definitions = containers(inferenceTask(program)) as unknown as {
      logConfiguration: { options: Record<string, string> };
    }[];
    expect(definitions.map((definition) => definition.logConfiguration.options["awslogs-group"])).toEqual([
      "/tts/tts-test/inference",
      "/tts/tts-test/collector",
    ]);
  });

  test("alarms on target 5xx, p99 latency, queue depth and no healthy task; email only when configured", () => {
    const alarms = Object.fromEntries(
      program.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").map((alarm) => [alarm.name, alarm.inputs]),
    );
    expect(alarms["tts-test-target-5xx"]).toMatchObject({
      namespace: "AWS/ApplicationELB",
      metricName: "HTTPCode_Target_5XX_Count",
      dimensions: { LoadBalancer: "app/tts-test-alb/1", TargetGroup: "targetgroup/tts-test-api/1" },
    });
    expect(alarms["tts-test-latency-p99"]).toMatchObject({
      metricName: "TargetResponseTime",
      extendedStatistic: "p99",
    });
    expect(alarms["tts-test-queue-depth"]).toMatchObject({
      namespace: "TTS/Inference",
      metricName: "tts_queue_depth",
      dimensions: { ClusterName: "tts-test", ServiceName: "inference" },
    });
    expect(alarms["tts-test-no-healthy-task"]).toMatchObject({ metricName: "HealthyHostCount" });
    expect(program.ofType("aws:sns/topic:Topic")).toEqual([]);
    expect(alarms["tts-test-target-5xx"]!.alarmActions).toBeUndefined();

    const subscription = scaled.one("aws:sns/topicSubscription:TopicSubscription");
    expect(subscription.inputs).toMatchObject({ protocol: "email", endpoint: "ops@example.com" });
    for (const alarm of scaled.ofType("aws:cloudwatch/metricAlarm:MetricAlarm"))
      expect(alarm.inputs.alarmActions).toEqual([subscription.inputs.topic]);
  });
});

describe("autoscaling", () => {
  test("the service's task count is scaled between the configured bounds", () => {
    expect(program.one("aws:appautoscaling/target:Target").inputs).toMatchObject({
      serviceNamespace: "ecs",
      scalableDimension: "ecs:service:DesiredCount",
      resourceId: "service/tts-test/inference",
      minCapacity: 1,
      maxCapacity: 4,
    });
    expect(scaled.one("aws:appautoscaling/target:Target").inputs).toMatchObject({
      minCapacity: 2,
      maxCapacity: 7,
    });
  });

  test("target tracking on jobs per task (the collector's gauges) and on CPU", () => {
    const policies = Object.fromEntries(
      scaled.ofType("aws:appautoscaling/policy:Policy").map((policy) => [policy.name, policy.inputs]),
    );
    const jobs = policies["tts-test-jobs-per-task"]!.targetTrackingScalingPolicyConfiguration as {
      targetValue: number;
      customizedMetricSpecification: { metrics: Record<string, unknown>[] };
    };
    expect(jobs.targetValue).toBe(3);
    const dimensions = [
      { name: "ClusterName", value: "tts-test" },
      { name: "ServiceName", value: "inference" },
    ];
    expect(jobs.customizedMetricSpecification.metrics).toEqual([
      expect.objectContaining({
        id: "queued",
        metricStat: {
          stat: "Average",
          metric: { namespace: "TTS/Inference", metricName: "tts_queue_depth", dimensions },
        },
      }),
      expect.objectContaining({
        id: "running",
        metricStat: {
          stat: "Average",
          metric: { namespace: "TTS/Inference", metricName: "tts_jobs_in_flight", dimensions },
        },
      }),
      expect.objectContaining({ id: "jobs", expression: "queued + running", returnData: true }),
    ]);
    expect(policies["tts-test-cpu"]!.targetTrackingScalingPolicyConfiguration).toMatchObject({
      targetValue: 70,
      predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
    });
    for (const policy of Object.values(policies))
      expect(policy).toMatchObject({
        resourceId: "service/tts-test/inference",
        policyType: "TargetTrackingScaling",
      });
  });
});
