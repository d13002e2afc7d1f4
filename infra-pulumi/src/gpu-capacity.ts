import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { STOP_TIMEOUT_SECONDS } from "./config.ts";
import { serviceRole } from "./iam.ts";

/** AWS publishes the current ECS GPU-optimized Amazon Linux 2023 AMI (NVIDIA driver, container toolkit) here. */
export const GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id";

/** The ECS agent's settings on each GPU instance. */
export function gpuUserData(clusterName: string): string {
  return [
    "#!/bin/bash",
    "cat >> /etc/ecs/ecs.config <<'EOF'",
    `ECS_CLUSTER=${clusterName}`,
    "ECS_ENABLE_GPU_SUPPORT=true",
    // Tasks use their task role, never the instance's credentials from the metadata service.
    "ECS_AWSVPC_BLOCK_IMDS=true",
    `ECS_CONTAINER_STOP_TIMEOUT=${STOP_TIMEOUT_SECONDS}s`,
    "EOF",
    "",
  ].join("\n");
}

export interface GpuCapacityArgs {
  prefix: string;
  clusterName: string;
  vpcId: pulumi.Input<string>;
  subnetIds: pulumi.Input<string>[];
  instanceType: string;
  /** Instances at most: one GPU task per instance. */
  maxInstances: number;
}

/**
 * GPU capacity for the cluster (Fargate has no GPUs): an Auto Scaling group of NVIDIA instances on the ECS
 * GPU-optimized AMI, joined to the cluster by user data, behind a capacity provider whose managed scaling adds an
 * instance when a task cannot be placed and removes empty ones (managed termination protection keeps an instance
 * with a running task).
 */
export class GpuCapacity extends pulumi.ComponentResource {
  readonly capacityProvider: aws.ecs.CapacityProvider;
  readonly clusterCapacityProviders: aws.ecs.ClusterCapacityProviders;

  constructor(name: string, args: GpuCapacityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:gpu:GpuCapacity", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    const role = serviceRole(
      `${prefix}-gpu-instance`,
      { service: "ec2.amazonaws.com", description: "GPU container instances: ECS agent, image pulls, SSM" },
      parent,
    );
    for (const [key, policy] of [
      ["ecs", "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"],
      ["ssm", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
    ] as const) {
      new aws.iam.RolePolicyAttachment(
        `${prefix}-gpu-instance-${key}`,
        { role: role.name, policyArn: policy },
        parent,
      );
    }
    const profile = new aws.iam.InstanceProfile(`${prefix}-gpu-instance`, { role: role.name }, parent);

    // No inbound rule: tasks have their own network interfaces and groups (awsvpc); SSM needs none.
    const securityGroup = new aws.ec2.SecurityGroup(
      `${prefix}-gpu-instance`,
      { vpcId: args.vpcId, description: "GPU container instances: outbound only" },
      parent,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${prefix}-gpu-instance-out`,
      {
        securityGroupId: securityGroup.id,
        cidrIpv4: "0.0.0.0/0",
        ipProtocol: "-1",
        description: "ECS, ECR, SSM",
      },
      parent,
    );

    const imageId = aws.ssm.getParameterOutput({ name: GPU_AMI_PARAMETER }, parent).value;
    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${prefix}-gpu`,
      {
        imageId,
        instanceType: args.instanceType,
        iamInstanceProfile: { arn: profile.arn },
        vpcSecurityGroupIds: [securityGroup.id],
        userData: Buffer.from(gpuUserData(args.clusterName)).toString("base64"),
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        // CUDA images are large: room for two versions during a deploy, and the layer cache.
        blockDeviceMappings: [
          {
            deviceName: "/dev/xvda",
            ebs: { volumeSize: 100, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
          },
        ],
        monitoring: { enabled: true },
        tagSpecifications: [{ resourceType: "instance", tags: { Name: `${prefix}-gpu` } }],
        updateDefaultVersion: true,
      },
      parent,
    );

    const group = new aws.autoscaling.Group(
      `${prefix}-gpu`,
      {
        vpcZoneIdentifiers: args.subnetIds,
        minSize: 0,
        maxSize: args.maxInstances,
        launchTemplate: { id: launchTemplate.id, version: "$Latest" },
        // Managed termination protection needs it: ECS decides which instance may go.
        protectFromScaleIn: true,
        healthCheckType: "EC2",
        tags: [
          { key: "AmazonECSManaged", value: "true", propagateAtLaunch: true },
          { key: "Name", value: `${prefix}-gpu`, propagateAtLaunch: true },
        ],
      },
      // The capacity provider sets the desired size from here on.
      { ...parent, ignoreChanges: ["desiredCapacity"] },
    );

    this.capacityProvider = new aws.ecs.CapacityProvider(
      `${prefix}-gpu`,
      {
        autoScalingGroupProvider: {
          autoScalingGroupArn: group.arn,
          managedTerminationProtection: "ENABLED",
          managedDraining: "ENABLED",
          managedScaling: {
            status: "ENABLED",
            targetCapacity: 100,
            minimumScalingStepSize: 1,
            maximumScalingStepSize: 2,
            instanceWarmupPeriod: 300,
          },
        },
      },
      parent,
    );
    this.clusterCapacityProviders = new aws.ecs.ClusterCapacityProviders(
      `${prefix}-capacity`,
      {
        clusterName: args.clusterName,
        capacityProviders: [this.capacityProvider.name, "FARGATE"],
        defaultCapacityProviderStrategies: [
          { capacityProvider: this.capacityProvider.name, weight: 1, base: 0 },
        ],
      },
      parent,
    );
    this.registerOutputs({ capacityProvider: this.capacityProvider.name });
  }
}
