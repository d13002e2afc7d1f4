import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { INFERENCE_PORT } from "./load-balancer.ts";

/** CloudWatch namespace of the node's own gauges, as the collector publishes them. */
export const METRICS_NAMESPACE = "TTS/Inference";
/** The node's Prometheus gauges that scaling and alarms read (apps/inference/src/http/metrics.ts). */
export const QUEUE_DEPTH_METRIC = "tts_queue_depth";
export const IN_FLIGHT_METRIC = "tts_jobs_in_flight";
/** The ADOT collector's container name, beside the node and beside the web server. */
export const COLLECTOR_CONTAINER = "collector";
/** Where the node sends OTLP traces: the collector beside it in the task. */
export const OTLP_ENDPOINT = "http://localhost:4318";

export interface CollectorConfigArgs {
  region: string;
  /** The inference node's gauges; a collector without them (the web app's) forwards traces only. */
  metrics?: {
    clusterName: string;
    serviceName: string;
    /** Log group the EMF exporter writes the metrics into (CloudWatch extracts them from there). */
    metricsLogGroup: string;
  };
}

/** What a collector needs to forward traces to X-Ray (no resource-level permissions exist for these). */
export const XRAY_WRITE_ACTIONS = [
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "xray:GetSamplingRules",
  "xray:GetSamplingTargets",
  "xray:GetSamplingStatisticSummaries",
];

/**
 * The ADOT collector's configuration (AOT_CONFIG_CONTENT; JSON is YAML). Traces: OTLP/HTTP on localhost:4318 to
 * X-Ray. Metrics: the node's `/metrics` every 15 s, with the scraper's key from the METRICS_KEY secret (the
 * collector expands `${env:...}`), the queue and in-flight gauges to CloudWatch through the EMF exporter, one
 * series per service (so a per-task average is what scaling tracks).
 */
export function collectorConfig({ region, metrics }: CollectorConfigArgs): string {
  const traces = {
    extensions: { health_check: {} },
    receivers: { otlp: { protocols: { http: { endpoint: "127.0.0.1:4318" } } } },
    processors: { "batch/traces": { timeout: "1s", send_batch_size: 50 } },
    exporters: { awsxray: { region } },
    service: {
      extensions: ["health_check"],
      pipelines: {
        traces: { receivers: ["otlp"], processors: ["batch/traces"], exporters: ["awsxray"] },
      },
    },
  };
  if (!metrics) return JSON.stringify(traces);
  const args = { region, ...metrics };
  const config = {
    extensions: traces.extensions,
    receivers: {
      ...traces.receivers,
      prometheus: {
        config: {
          scrape_configs: [
            {
              job_name: "tts-inference",
              scrape_interval: "15s",
              scrape_timeout: "5s",
              metrics_path: "/metrics",
              authorization: { type: "Bearer", credentials: "${env:METRICS_KEY}" },
              static_configs: [
                {
                  targets: [`127.0.0.1:${INFERENCE_PORT}`],
                  labels: { ClusterName: args.clusterName, ServiceName: args.serviceName },
                },
              ],
            },
          ],
        },
      },
    },
    processors: { ...traces.processors, "batch/metrics": { timeout: "15s" } },
    exporters: {
      ...traces.exporters,
      awsemf: {
        region: args.region,
        namespace: METRICS_NAMESPACE,
        log_group_name: args.metricsLogGroup,
        log_stream_name: "{TaskId}",
        dimension_rollup_option: "NoDimensionRollup",
        metric_declarations: [
          {
            dimensions: [["ClusterName", "ServiceName"]],
            metric_name_selectors: [`^${QUEUE_DEPTH_METRIC}$`, `^${IN_FLIGHT_METRIC}$`],
          },
        ],
      },
    },
    service: {
      extensions: traces.service.extensions,
      pipelines: {
        ...traces.service.pipelines,
        metrics: { receivers: ["prometheus"], processors: ["batch/metrics"], exporters: ["awsemf"] },
      },
    },
  };
  return JSON.stringify(config);
}

export interface LogGroupsArgs {
  prefix: string;
  retentionDays: number;
}

/** A log group with a retention (CloudWatch keeps logs forever otherwise). */
export function logGroup(
  prefix: string,
  suffix: string,
  retentionDays: number,
  opts: pulumi.CustomResourceOptions,
): aws.cloudwatch.LogGroup {
  return new aws.cloudwatch.LogGroup(
    `${prefix}-${suffix}`,
    { name: `/tts/${prefix}/${suffix}`, retentionInDays: retentionDays },
    opts,
  );
}

/** The inference service's log groups: the node, its collector, and the metrics the collector publishes. */
export class LogGroups extends pulumi.ComponentResource {
  readonly inference: aws.cloudwatch.LogGroup;
  readonly collector: aws.cloudwatch.LogGroup;
  readonly metrics: aws.cloudwatch.LogGroup;

  constructor(name: string, args: LogGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:observability:LogGroups", name, {}, opts);
    const parent = { parent: this };
    this.inference = logGroup(args.prefix, "inference", args.retentionDays, parent);
    this.collector = logGroup(args.prefix, "collector", args.retentionDays, parent);
    this.metrics = logGroup(args.prefix, "metrics", args.retentionDays, parent);
    this.registerOutputs({});
  }
}

export interface AlarmsArgs {
  prefix: string;
  loadBalancerArnSuffix: pulumi.Input<string>;
  targetGroupArnSuffix: pulumi.Input<string>;
  clusterName: string;
  serviceName: string;
  target5xxCount: number;
  latencyP99Seconds: number;
  queueDepth: number;
  /** Subscribe this address to a topic the alarms notify (the recipient confirms once by email). */
  email?: string;
}

/** Alarms on what users feel: target 5xx, p99 latency, jobs queueing, no healthy task. */
export class Alarms extends pulumi.ComponentResource {
  readonly topic?: aws.sns.Topic;

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:observability:Alarms", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    if (args.email) {
      this.topic = new aws.sns.Topic(`${prefix}-alarms`, {}, parent);
      new aws.sns.TopicSubscription(
        `${prefix}-alarms-email`,
        { topic: this.topic.arn, protocol: "email", endpoint: args.email },
        parent,
      );
    }
    const actions = this.topic ? { alarmActions: [this.topic.arn], okActions: [this.topic.arn] } : {};
    const alb = { LoadBalancer: args.loadBalancerArnSuffix, TargetGroup: args.targetGroupArnSuffix };

    new aws.cloudwatch.MetricAlarm(
      `${prefix}-target-5xx`,
      {
        alarmDescription: "Inference tasks answered 5xx (server errors, not the load balancer's own)",
        namespace: "AWS/ApplicationELB",
        metricName: "HTTPCode_Target_5XX_Count",
        dimensions: alb,
        statistic: "Sum",
        period: 300,
        evaluationPeriods: 1,
        threshold: args.target5xxCount,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        ...actions,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${prefix}-latency-p99`,
      {
        alarmDescription: "p99 time until a task starts answering (streams count until their first byte)",
        namespace: "AWS/ApplicationELB",
        metricName: "TargetResponseTime",
        dimensions: alb,
        extendedStatistic: "p99",
        period: 300,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        threshold: args.latencyP99Seconds,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        ...actions,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${prefix}-queue-depth`,
      {
        alarmDescription:
          "Jobs wait for a worker on some task for 5 minutes: scaling is at its maximum or too slow",
        namespace: METRICS_NAMESPACE,
        metricName: QUEUE_DEPTH_METRIC,
        dimensions: { ClusterName: args.clusterName, ServiceName: args.serviceName },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 5,
        threshold: args.queueDepth,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        ...actions,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${prefix}-no-healthy-task`,
      {
        alarmDescription: "No inference task is ready (model not loaded, or tasks failing)",
        namespace: "AWS/ApplicationELB",
        metricName: "HealthyHostCount",
        dimensions: alb,
        statistic: "Minimum",
        period: 60,
        evaluationPeriods: 5,
        threshold: 1,
        comparisonOperator: "LessThanThreshold",
        treatMissingData: "breaching",
        ...actions,
      },
      parent,
    );
    this.registerOutputs({ topicArn: this.topic?.arn });
  }
}
