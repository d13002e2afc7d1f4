import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { STOP_TIMEOUT_SECONDS, type StackConfig } from "./config.ts";
import type { Containers } from "./containers.ts";
import { GpuCapacity } from "./gpu-capacity.ts";
import { policyDocument, serviceRole, type AwsContext, type Statement } from "./iam.ts";
import { INFERENCE_PORT, type LoadBalancer } from "./load-balancer.ts";
import { MODEL_CACHE_PATH, ModelCache } from "./models-cache.ts";
import type { Network } from "./network.ts";
import {
  COLLECTOR_CONTAINER,
  collectorConfig,
  OTLP_ENDPOINT,
  XRAY_WRITE_ACTIONS,
  type LogGroups,
} from "./observability.ts";
import type { AppSecrets, EcsSecret } from "./secrets.ts";
import type { AudioBucket } from "./storage.ts";

export const INFERENCE_SERVICE_NAME = "inference";
const INFERENCE_CONTAINER = "inference";
const MODELS_VOLUME = "models";

export interface InferenceServiceArgs {
  config: StackConfig;
  ctx: AwsContext;
  network: Network;
  containers: Containers;
  loadBalancer: LoadBalancer;
  bucket: AudioBucket;
  secrets: AppSecrets;
  logs: LogGroups;
}

/** A container definition's name/value list, in a stable order. */
function environment(values: Record<string, pulumi.Input<string>>) {
  return Object.entries(values).map(([name, value]) => ({ name, value }));
}

/** A node one-liner as the container health check: the image has node, not necessarily curl. */
function httpCheck(port: number, path: string): string[] {
  return [
    "CMD",
    "node",
    "-e",
    `fetch('http://127.0.0.1:${port}${path}').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`,
  ];
}

function awsLogs(group: aws.cloudwatch.LogGroup, region: pulumi.Input<string>, streamPrefix: string) {
  return {
    logDriver: "awslogs",
    options: { "awslogs-group": group.name, "awslogs-region": region, "awslogs-stream-prefix": streamPrefix },
  };
}

/**
 * The inference node on ECS: Fargate (CPU) by default, or EC2 GPU capacity with tts:gpu. Each task runs the node
 * and an ADOT collector beside it, mounts the EFS model cache, reads its secrets from Secrets Manager, and is
 * reachable only from the ALB. Its role may use its own bucket prefix, its own model cache and its own task
 * scale-in protection, nothing else of the account.
 */
export class InferenceService extends pulumi.ComponentResource {
  readonly securityGroup: aws.ec2.SecurityGroup;
  readonly taskRole: aws.iam.Role;
  readonly executionRole: aws.iam.Role;
  readonly modelCache: ModelCache;
  readonly gpuCapacity?: GpuCapacity;
  readonly taskDefinition: aws.ecs.TaskDefinition;
  readonly service: aws.ecs.Service;
  readonly serviceName = INFERENCE_SERVICE_NAME;

  constructor(name: string, args: InferenceServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:inference:InferenceService", name, {}, opts);
    const parent = { parent: this };
    const { config, ctx, network, containers, loadBalancer, bucket, secrets, logs } = args;
    const { prefix } = config;
    const clusterName = containers.clusterName;

    this.securityGroup = new aws.ec2.SecurityGroup(
      `${prefix}-inference`,
      {
        vpcId: network.vpc.id,
        description: "Inference tasks: the node's port from the ALB and each other only",
      },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${prefix}-inference-from-alb`,
      {
        securityGroupId: this.securityGroup.id,
        referencedSecurityGroupId: loadBalancer.securityGroup.id,
        ipProtocol: "tcp",
        fromPort: INFERENCE_PORT,
        toPort: INFERENCE_PORT,
        description: "Node HTTP from the load balancer",
      },
      parent,
    );
    // Nodes sharing the bucket relay a job's live audio from the node that runs it (TTS_NODE_URL: the task's own
    // address and port), so tasks reach each other on the node's port, and nothing else does.
    new aws.vpc.SecurityGroupIngressRule(
      `${prefix}-inference-peers`,
      {
        securityGroupId: this.securityGroup.id,
        referencedSecurityGroupId: this.securityGroup.id,
        ipProtocol: "tcp",
        fromPort: INFERENCE_PORT,
        toPort: INFERENCE_PORT,
        description: "Node HTTP from the other inference tasks (live audio relay)",
      },
      parent,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${prefix}-inference-out`,
      {
        securityGroupId: this.securityGroup.id,
        cidrIpv4: "0.0.0.0/0",
        ipProtocol: "-1",
        description: "ECR, S3, EFS, Secrets Manager, CloudWatch, X-Ray, the model hub",
      },
      parent,
    );

    this.executionRole = serviceRole(
      `${prefix}-inference-exec`,
      {
        service: "ecs-tasks.amazonaws.com",
        sourceAccount: ctx.accountId,
        description: "ECS agent for inference tasks: pull images, write logs, read the node's secret",
      },
      parent,
    );
    new aws.iam.RolePolicyAttachment(
      `${prefix}-inference-exec`,
      {
        role: this.executionRole.name,
        policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${prefix}-inference-exec-secrets`,
      {
        role: this.executionRole.id,
        policy: policyDocument([
          {
            Sid: "NodeSecretOnly",
            Effect: "Allow",
            Action: "secretsmanager:GetSecretValue",
            Resource: secrets.node.secret.arn,
          },
        ]),
      },
      parent,
    );

    this.taskRole = serviceRole(
      `${prefix}-inference-task`,
      {
        service: "ecs-tasks.amazonaws.com",
        sourceAccount: ctx.accountId,
        description:
          "Inference node and its collector: bucket prefix, model cache, task protection, telemetry",
      },
      parent,
    );

    this.modelCache = new ModelCache(
      `${prefix}-models`,
      {
        prefix,
        vpcId: network.vpc.id,
        subnetIds: network.taskSubnetIds,
        taskSecurityGroupId: this.securityGroup.id,
        taskRoleArn: this.taskRole.arn,
      },
      parent,
    );

    const taskStatements: Statement[] = [
      ...bucket.nodeStatements(),
      ...this.modelCache.taskStatements(),
      {
        // The node protects itself from scale-in while it has jobs, through $ECS_AGENT_URI/task-protection/v1/state;
        // the agent makes these calls with the task role.
        Sid: "OwnTaskProtection",
        Effect: "Allow",
        Action: ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
        Resource: pulumi.interpolate`arn:${ctx.partition}:ecs:${ctx.region}:${ctx.accountId}:task/${clusterName}/*`,
      },
      {
        Sid: "CollectorTraces",
        Effect: "Allow",
        // X-Ray has no resource-level permissions for these.
        Action: XRAY_WRITE_ACTIONS,
        Resource: "*",
      },
      {
        Sid: "CollectorMetrics",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        Resource: [logs.metrics.arn, pulumi.interpolate`${logs.metrics.arn}:*`],
      },
    ];
    new aws.iam.RolePolicy(
      `${prefix}-inference-task`,
      { role: this.taskRole.id, policy: policyDocument(taskStatements) },
      parent,
    );

    if (config.gpu) {
      this.gpuCapacity = new GpuCapacity(
        `${prefix}-gpu`,
        {
          prefix,
          clusterName,
          vpcId: network.vpc.id,
          subnetIds: network.taskSubnetIds,
          instanceType: config.gpuInstanceType,
          maxInstances: config.maxTasks,
        },
        { ...parent, dependsOn: [containers.cluster] },
      );
    }

    const nodeEnvironment = environment({
      ...config.inferenceEnv,
      PORT: String(INFERENCE_PORT),
      // Behind the ALB; credentials are always set (TTS_SESSION_SECRET), so listening on all interfaces is safe.
      HOST: "0.0.0.0",
      CORS_ORIGINS: `https://${config.webDomain}`,
      TRUSTED_PROXIES: network.loadBalancerCidrs.join(","),
      S3_BUCKET: bucket.bucket.id,
      S3_PREFIX: config.s3Prefix,
      AWS_REGION: ctx.region,
      AUDIO_TTL_SECONDS: String(config.audioTtlSeconds),
      DRAIN_TIMEOUT_SECONDS: String(config.drainTimeoutSeconds),
      // Idle connections outlive the ALB's, so the balancer always closes first (no 502 from the race).
      HTTP_KEEP_ALIVE_SECONDS: String(config.albIdleTimeoutSeconds + 5),
      TTS_CACHE_DIR: MODEL_CACHE_PATH,
      TTS_MODEL: config.model,
      TTS_DTYPE: config.dtype,
      // A GPU task that cannot use its GPU should fail loudly, not crawl on CPU.
      TTS_DEVICE: config.gpu ? "cuda" : "cpu",
      OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_ENDPOINT,
      OTEL_SERVICE_NAME: `${prefix}-inference`,
    });
    const nodeSecrets: EcsSecret[] = secrets.node.ecsSecrets("API_KEYS", "TTS_SESSION_SECRET", "HF_TOKEN");
    const image = containers.image(config.gpu ? "inference-cuda" : "inference-cpu", config.imageTag);

    const containerDefinitions = pulumi.jsonStringify([
      {
        name: INFERENCE_CONTAINER,
        image,
        essential: true,
        portMappings: [{ containerPort: INFERENCE_PORT, protocol: "tcp", name: "http" }],
        environment: nodeEnvironment,
        secrets: nodeSecrets,
        mountPoints: [{ sourceVolume: MODELS_VOLUME, containerPath: MODEL_CACHE_PATH, readOnly: false }],
        ...(config.gpu && { resourceRequirements: [{ type: "GPU", value: "1" }] }),
        // The node drains for DRAIN_TIMEOUT_SECONDS on SIGTERM; this is the most ECS waits before SIGKILL.
        stopTimeout: STOP_TIMEOUT_SECONDS,
        healthCheck: {
          command: httpCheck(INFERENCE_PORT, "/healthz"),
          interval: 30,
          timeout: 5,
          retries: 3,
          startPeriod: 60,
        },
        ulimits: [{ name: "nofile", softLimit: 65_536, hardLimit: 65_536 }],
        // Traces from the first request on: the collector is up before the node starts.
        dependsOn: [{ containerName: COLLECTOR_CONTAINER, condition: "START" }],
        logConfiguration: awsLogs(logs.inference, ctx.region, INFERENCE_CONTAINER),
      },
      {
        name: COLLECTOR_CONTAINER,
        image: config.collectorImage,
        // Telemetry must never take the node down with it.
        essential: false,
        memoryReservation: 128,
        environment: environment({
          AOT_CONFIG_CONTENT: pulumi.all([ctx.region, logs.metrics.name]).apply(([region, metricsLogGroup]) =>
            collectorConfig({
              region,
              metrics: { clusterName, serviceName: INFERENCE_SERVICE_NAME, metricsLogGroup },
            }),
          ),
        }),
        secrets: secrets.node.ecsSecrets("METRICS_KEY"),
        logConfiguration: awsLogs(logs.collector, ctx.region, COLLECTOR_CONTAINER),
      },
    ]);

    this.taskDefinition = new aws.ecs.TaskDefinition(
      `${prefix}-inference`,
      {
        family: `${prefix}-inference`,
        networkMode: "awsvpc",
        requiresCompatibilities: [config.gpu ? "EC2" : "FARGATE"],
        cpu: String(config.cpu),
        memory: String(config.memory),
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
        executionRoleArn: this.executionRole.arn,
        taskRoleArn: this.taskRole.arn,
        volumes: [this.modelCache.volume(MODELS_VOLUME)],
        containerDefinitions,
      },
      parent,
    );

    const capacity: Pick<
      aws.ecs.ServiceArgs,
      "launchType" | "platformVersion" | "capacityProviderStrategies"
    > = this.gpuCapacity
      ? {
          capacityProviderStrategies: [
            { capacityProvider: this.gpuCapacity.capacityProvider.name, weight: 1 },
          ],
        }
      : { launchType: "FARGATE", platformVersion: "LATEST" };
    this.service = new aws.ecs.Service(
      `${prefix}-inference`,
      {
        name: INFERENCE_SERVICE_NAME,
        cluster: containers.cluster.arn,
        taskDefinition: this.taskDefinition.arn,
        desiredCount: config.minTasks,
        ...capacity,
        networkConfiguration: {
          subnets: network.taskSubnetIds,
          securityGroups: [this.securityGroup.id],
          assignPublicIp: !config.gpu && network.assignPublicIp,
        },
        loadBalancers: [
          {
            targetGroupArn: loadBalancer.inferenceTargetGroup.arn,
            containerName: INFERENCE_CONTAINER,
            containerPort: INFERENCE_PORT,
          },
        ],
        // The first task downloads the model into the cache; readiness waits for it, replacement must not.
        healthCheckGracePeriodSeconds: config.healthCheckGraceSeconds,
        // New tasks start beside old ones, which a running job keeps protected until it ends.
        deploymentMinimumHealthyPercent: 100,
        deploymentMaximumPercent: 200,
        deploymentCircuitBreaker: { enable: true, rollback: true },
        ...(config.gpu && {
          orderedPlacementStrategies: [{ type: "spread", field: "attribute:ecs.availability-zone" }],
        }),
        enableEcsManagedTags: true,
        propagateTags: "SERVICE",
        waitForSteadyState: false,
      },
      {
        ...parent,
        // Autoscaling owns the task count after creation.
        ignoreChanges: ["desiredCount"],
        dependsOn: [
          loadBalancer.httpsListener,
          ...(this.gpuCapacity ? [this.gpuCapacity.clusterCapacityProviders] : []),
        ],
      },
    );
    this.registerOutputs({ serviceName: this.service.name });
  }
}
