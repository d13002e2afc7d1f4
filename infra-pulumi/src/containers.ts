import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** The images CI builds from the repository root (apps/inference/Dockerfile{,.cuda}, apps/web/Dockerfile). */
export const IMAGES = ["inference-cpu", "inference-cuda", "web"] as const;
export type ImageName = (typeof IMAGES)[number];

/** Tagged images kept per repository: every deploy pushes one per git SHA. */
const KEEP_TAGGED = 30;

export interface ContainersArgs {
  prefix: string;
  /** Delete repositories that still hold images on `pulumi destroy`. */
  forceDestroy: boolean;
}

/** One ECR repository per image (scanned on push, pruned by a lifecycle policy) and the ECS cluster. */
export class Containers extends pulumi.ComponentResource {
  readonly repositories: Record<ImageName, aws.ecr.Repository>;
  readonly cluster: aws.ecs.Cluster;
  readonly clusterName: string;

  constructor(name: string, args: ContainersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:containers:Containers", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    const lifecyclePolicy = JSON.stringify({
      rules: [
        {
          rulePriority: 1,
          description: "Untagged layers left by re-pushed tags go after a week",
          selection: {
            tagStatus: "untagged",
            countType: "sinceImagePushed",
            countUnit: "days",
            countNumber: 7,
          },
          action: { type: "expire" },
        },
        {
          rulePriority: 2,
          description: `Keep the last ${KEEP_TAGGED} images (a rollback needs an old tag)`,
          selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: KEEP_TAGGED },
          action: { type: "expire" },
        },
      ],
    });

    const entries = IMAGES.map((image) => {
      const repository = new aws.ecr.Repository(
        `${prefix}-${image}`,
        {
          name: `${prefix}/${image}`,
          imageScanningConfiguration: { scanOnPush: true },
          // `latest` (the default tts:imageTag) is re-pushed, so tags stay mutable; CI pushes git SHAs beside it.
          imageTagMutability: "MUTABLE",
          encryptionConfigurations: [{ encryptionType: "AES256" }],
          forceDelete: args.forceDestroy,
        },
        parent,
      );
      new aws.ecr.LifecyclePolicy(
        `${prefix}-${image}`,
        { repository: repository.name, policy: lifecyclePolicy },
        parent,
      );
      return [image, repository] as const;
    });
    this.repositories = Object.fromEntries(entries) as Record<ImageName, aws.ecr.Repository>;

    this.clusterName = prefix;
    this.cluster = new aws.ecs.Cluster(
      `${prefix}-cluster`,
      {
        name: this.clusterName,
        settings: [{ name: "containerInsights", value: "enabled" }],
      },
      parent,
    );
    this.registerOutputs({ clusterName: this.cluster.name });
  }

  /** `<repository URL>:<tag>` of one image. */
  image(image: ImageName, tag: string): pulumi.Output<string> {
    return pulumi.interpolate`${this.repositories[image].repositoryUrl}:${tag}`;
  }
}
