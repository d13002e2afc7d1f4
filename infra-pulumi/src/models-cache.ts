import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { Statement } from "./iam.ts";

/** Where the inference container sees the cache (TTS_CACHE_DIR; the images' own default location). */
export const MODEL_CACHE_PATH = "/var/lib/tts/models";
/**
 * Every NFS operation through the access point runs as this user, whatever the container's own (the CPU image runs
 * as node, uid 1000; the CUDA image as tts, uid 10001), so both images share one cache.
 */
const POSIX_ID = 1000;

export interface ModelCacheArgs {
  prefix: string;
  vpcId: pulumi.Input<string>;
  subnetIds: pulumi.Input<string>[];
  /** The only security group NFS is open to. */
  taskSecurityGroupId: pulumi.Input<string>;
  /** The only role the file system lets mount it (IAM authorization through the access point). */
  taskRoleArn: pulumi.Input<string>;
}

/**
 * The model cache on EFS: the first task downloads the pinned model revision into it (TTS_CACHE_DIR), every later
 * task reads it from there instead of pulling gigabytes from the model hub or inside its image. Encrypted at rest
 * and in transit, mounted only through its access point, only by the task role, only from the task security group.
 */
export class ModelCache extends pulumi.ComponentResource {
  readonly fileSystem: aws.efs.FileSystem;
  readonly accessPoint: aws.efs.AccessPoint;
  readonly securityGroup: aws.ec2.SecurityGroup;

  constructor(name: string, args: ModelCacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:models:ModelCache", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    this.fileSystem = new aws.efs.FileSystem(
      `${prefix}-models`,
      {
        encrypted: true,
        performanceMode: "generalPurpose",
        // Pay per byte read: a task start reads the model once, then the cache sits idle.
        throughputMode: "elastic",
        tags: { Name: `${prefix}-models` },
      },
      parent,
    );

    this.securityGroup = new aws.ec2.SecurityGroup(
      `${prefix}-models`,
      { vpcId: args.vpcId, description: "EFS model cache: NFS from inference tasks only" },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${prefix}-models-nfs`,
      {
        securityGroupId: this.securityGroup.id,
        referencedSecurityGroupId: args.taskSecurityGroupId,
        ipProtocol: "tcp",
        fromPort: 2049,
        toPort: 2049,
        description: "NFS from inference tasks",
      },
      parent,
    );

    args.subnetIds.forEach((subnetId, index) => {
      new aws.efs.MountTarget(
        `${prefix}-models-${index}`,
        { fileSystemId: this.fileSystem.id, subnetId, securityGroups: [this.securityGroup.id] },
        parent,
      );
    });

    this.accessPoint = new aws.efs.AccessPoint(
      `${prefix}-models`,
      {
        fileSystemId: this.fileSystem.id,
        posixUser: { uid: POSIX_ID, gid: POSIX_ID },
        rootDirectory: {
          path: "/chatterbox",
          creationInfo: { ownerUid: POSIX_ID, ownerGid: POSIX_ID, permissions: "755" },
        },
        tags: { Name: `${prefix}-models` },
      },
      parent,
    );

    new aws.efs.FileSystemPolicy(
      `${prefix}-models`,
      {
        fileSystemId: this.fileSystem.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "TaskRoleThroughAccessPoint",
              Effect: "Allow",
              Principal: { AWS: args.taskRoleArn },
              Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
              Resource: this.fileSystem.arn,
              Condition: { StringEquals: { "elasticfilesystem:AccessPointArn": this.accessPoint.arn } },
            },
            {
              Sid: "TlsOnly",
              Effect: "Deny",
              Principal: { AWS: "*" },
              Action: "*",
              Resource: this.fileSystem.arn,
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      parent,
    );
    this.registerOutputs({ fileSystemId: this.fileSystem.id, accessPointId: this.accessPoint.id });
  }

  /** The task role's side of the mount: this file system, through this access point. */
  taskStatements(): Statement[] {
    return [
      {
        Sid: "ModelCacheMount",
        Effect: "Allow",
        Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
        Resource: this.fileSystem.arn,
        Condition: { StringEquals: { "elasticfilesystem:AccessPointArn": this.accessPoint.arn } },
      },
    ];
  }

  /** The task definition volume (IAM authorization, TLS in transit). */
  volume(volumeName: string): aws.types.input.ecs.TaskDefinitionVolume {
    return {
      name: volumeName,
      efsVolumeConfiguration: {
        fileSystemId: this.fileSystem.id,
        transitEncryption: "ENABLED",
        authorizationConfig: { accessPointId: this.accessPoint.id, iam: "ENABLED" },
      },
    };
  }
}
