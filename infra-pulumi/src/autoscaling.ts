import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { IN_FLIGHT_METRIC, METRICS_NAMESPACE, QUEUE_DEPTH_METRIC } from "./observability.ts";

export interface ServiceAutoscalingArgs {
  prefix: string;
  clusterName: string;
  serviceName: string;
  /** The service, so the target is registered after it exists. */
  service: aws.ecs.Service;
  minTasks: number;
  maxTasks: number;
  /** Jobs (queued + running) per task the service aims at. */
  targetJobsPerTask: number;
  targetCpuPercent: number;
}

/**
 * Task count between min and max, driven by two target-tracking policies (the larger wins): jobs per task, queued
 * plus running, from the node's own gauges (the signal that fits inference: a task is full when its workers are
 * busy and jobs wait), and CPU as the fallback when the gauges stop arriving.
 */
export class ServiceAutoscaling extends pulumi.ComponentResource {
  readonly target: aws.appautoscaling.Target;

  constructor(name: string, args: ServiceAutoscalingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:autoscaling:ServiceAutoscaling", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    this.target = new aws.appautoscaling.Target(
      `${prefix}-inference`,
      {
        serviceNamespace: "ecs",
        scalableDimension: "ecs:service:DesiredCount",
        resourceId: `service/${args.clusterName}/${args.serviceName}`,
        minCapacity: args.minTasks,
        maxCapacity: args.maxTasks,
      },
      { ...parent, dependsOn: [args.service] },
    );
    const target = {
      serviceNamespace: this.target.serviceNamespace,
      scalableDimension: this.target.scalableDimension,
      resourceId: this.target.resourceId,
    };
    const gauge = (id: string, metricName: string) => ({
      id,
      returnData: false,
      metricStat: {
        stat: "Average",
        metric: {
          namespace: METRICS_NAMESPACE,
          metricName,
          dimensions: [
            { name: "ClusterName", value: args.clusterName },
            { name: "ServiceName", value: args.serviceName },
          ],
        },
      },
    });

    new aws.appautoscaling.Policy(
      `${prefix}-jobs-per-task`,
      {
        ...target,
        policyType: "TargetTrackingScaling",
        targetTrackingScalingPolicyConfiguration: {
          targetValue: args.targetJobsPerTask,
          // Out fast (a new task needs minutes to load its model), in slowly.
          scaleOutCooldown: 60,
          scaleInCooldown: 300,
          customizedMetricSpecification: {
            metrics: [
              gauge("queued", QUEUE_DEPTH_METRIC),
              gauge("running", IN_FLIGHT_METRIC),
              { id: "jobs", expression: "queued + running", label: "Jobs per task", returnData: true },
            ],
          },
        },
      },
      parent,
    );
    new aws.appautoscaling.Policy(
      `${prefix}-cpu`,
      {
        ...target,
        policyType: "TargetTrackingScaling",
        targetTrackingScalingPolicyConfiguration: {
          targetValue: args.targetCpuPercent,
          scaleOutCooldown: 60,
          scaleInCooldown: 300,
          predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
        },
      },
      parent,
    );
    this.registerOutputs({});
  }
}
