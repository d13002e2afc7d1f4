// GPU capacity exists only in GPU stacks, and a GPU stack runs the CUDA image on it.
import { Buffer } from "node:buffer";

import { beforeAll, describe, expect, test } from "vitest";

import { GPU_AMI_PARAMETER } from "../src/gpu-capacity.ts";
import { BASE_CONFIG, containers, env, runProgram, type Program } from "./harness.ts";

const GPU_TYPES = [
  "aws:autoscaling/group:Group",
  "aws:ec2/launchTemplate:LaunchTemplate",
  "aws:ecs/capacityProvider:CapacityProvider",
  "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
  "aws:iam/instanceProfile:InstanceProfile",
  "tts:gpu:GpuCapacity",
];

let cpu: Program;
let gpu: Program;
beforeAll(async () => {
  cpu = await runProgram(BASE_CONFIG);
  gpu = await runProgram({
    ...BASE_CONFIG,
    "tts:gpu": "true",
    "tts:maxTasks": "3",
    "tts:availabilityZones": JSON.stringify(["eu-west-1b", "eu-west-1c"]),
  });
});

const inferenceTask = (program: Program) =>
  program.one("aws:ecs/taskDefinition:TaskDefinition", /-inference$/);
const inferenceService = (program: Program) => program.one("aws:ecs/service:Service", /-inference$/);

describe("CPU stack (default)", () => {
  test("has no GPU resources at all", () => {
    for (const type of GPU_TYPES) expect(cpu.ofType(type), `${type} in a CPU stack`).toEqual([]);
    const [node] = containers(inferenceTask(cpu));
    expect(node!.resourceRequirements, "no GPU requirement on Fargate").toBeUndefined();
  });

  test("runs the CPU image on Fargate", () => {
    const task = inferenceTask(cpu);
    expect(task.inputs).toMatchObject({ requiresCompatibilities: ["FARGATE"], networkMode: "awsvpc" });
    const [node] = containers(task);
    expect(node!.image).toBe("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tts-test/inference-cpu:latest");
    expect(env(node!).TTS_DEVICE).toBe("cpu");
    expect(inferenceService(cpu).inputs).toMatchObject({ launchType: "FARGATE" });
    expect(inferenceService(cpu).inputs.capacityProviderStrategies).toBeUndefined();
  });
});

describe("GPU stack (tts:gpu: true)", () => {
  test("the task asks for one GPU, EC2 compatibility and the CUDA image", () => {
    const task = inferenceTask(gpu);
    expect(task.inputs.requiresCompatibilities).toEqual(["EC2"]);
    const [node] = containers(task);
    expect(node!.resourceRequirements).toEqual([{ type: "GPU", value: "1" }]);
    expect(node!.image).toBe("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tts-test/inference-cuda:latest");
    expect(env(node!).TTS_DEVICE, "a GPU task fails loudly rather than run on CPU").toBe("cuda");
  });

  test("the service places tasks through the GPU capacity provider, not a launch type", () => {
    const provider = gpu.one("aws:ecs/capacityProvider:CapacityProvider");
    const service = inferenceService(gpu);
    expect(service.inputs.launchType).toBeUndefined();
    expect(service.inputs.capacityProviderStrategies).toEqual([
      { capacityProvider: `${provider.name}-physical`, weight: 1 },
    ]);
    expect(service.inputs.networkConfiguration).toMatchObject({ assignPublicIp: false });
  });

  test("capacity provider with managed scaling and termination protection over the Auto Scaling group", () => {
    const provider = gpu.one("aws:ecs/capacityProvider:CapacityProvider");
    const group = gpu.one("aws:autoscaling/group:Group");
    expect(provider.inputs.autoScalingGroupProvider).toMatchObject({
      autoScalingGroupArn: `arn:aws:autoscaling:eu-west-1:123456789012:${group.name}`,
      managedTerminationProtection: "ENABLED",
      managedScaling: { status: "ENABLED", targetCapacity: 100 },
    });
    expect(group.inputs).toMatchObject({ minSize: 0, maxSize: 3, protectFromScaleIn: true });
    expect(group.inputs.vpcZoneIdentifiers, "GPU instances live in the private subnets").toEqual([
      "subnet-tts-test-private-0",
      "subnet-tts-test-private-1",
    ]);
    const association = gpu.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders");
    expect(association.inputs).toMatchObject({
      clusterName: "tts-test",
      defaultCapacityProviderStrategies: [
        { capacityProvider: `${provider.name}-physical`, weight: 1, base: 0 },
      ],
    });
  });

  test("instances boot the ECS GPU-optimized AMI and join the cluster", () => {
    const template = gpu.one("aws:ec2/launchTemplate:LaunchTemplate");
    expect(template.inputs).toMatchObject({
      imageId: "ami-0123456789abcdef0",
      instanceType: "g6.xlarge",
      metadataOptions: { httpTokens: "required" },
    });
    expect(GPU_AMI_PARAMETER).toBe(
      "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id",
    );
    const lookups = (program: Program) =>
      program.calls.filter((call) => call.token === "aws:ssm/getParameter:getParameter");
    expect(lookups(gpu).map((call) => call.inputs.name)).toEqual([GPU_AMI_PARAMETER]);
    expect(lookups(cpu)).toEqual([]);
    const userData = Buffer.from(template.inputs.userData as string, "base64").toString("utf8");
    expect(userData).toContain("ECS_CLUSTER=tts-test\n");
    expect(userData).toContain("ECS_ENABLE_GPU_SUPPORT=true");
    expect(userData).toContain("ECS_AWSVPC_BLOCK_IMDS=true");
  });

  test("a GPU stack defaults to private subnets with one NAT gateway per AZ, in the zones it names", () => {
    const zones = gpu.ofType("aws:ec2/subnet:Subnet").map((subnet) => subnet.inputs.availabilityZone);
    expect(zones).toEqual(["eu-west-1b", "eu-west-1c", "eu-west-1b", "eu-west-1c"]);
    expect(gpu.ofType("aws:ec2/natGateway:NatGateway")).toHaveLength(2);
    expect(cpu.ofType("aws:ec2/natGateway:NatGateway")).toHaveLength(0);
  });
});
