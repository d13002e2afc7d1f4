import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { Statement } from "./iam.ts";

/** Collections the node expires itself (AUDIO_TTL_SECONDS); voices stay until their owner deletes them. */
const EXPIRING = ["audio/", "jobs/"];

/**
 * Whole days S3 keeps an expiring object before its lifecycle rule removes it: a backstop behind the node's own
 * sweep (which keeps AUDIO_TTL_SECONDS to the second), so a day more than the TTL rounded up.
 */
export function backstopExpiryDays(audioTtlSeconds: number): number {
  return Math.ceil(audioTtlSeconds / 86_400) + 1;
}

export interface AudioBucketArgs {
  prefix: string;
  /** Key prefix of this deployment inside the bucket (S3_PREFIX), "" or ending in "/". */
  keyPrefix: string;
  audioTtlSeconds: number;
  versioning: boolean;
  forceDestroy: boolean;
}

/**
 * The bucket voices, stored audio and job records share across tasks: private (all four public-access blocks,
 * owner-enforced objects), encrypted (SSE-KMS with the AWS-managed key and a bucket key, so KMS calls stay rare),
 * TLS-only, with lifecycle rules as a backstop behind the node's sweep.
 */
export class AudioBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly keyPrefix: string;

  constructor(name: string, args: AudioBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:storage:AudioBucket", name, {}, opts);
    const parent = { parent: this };
    const { prefix, keyPrefix } = args;
    this.keyPrefix = keyPrefix;

    this.bucket = new aws.s3.Bucket(`${prefix}-data`, { forceDestroy: args.forceDestroy }, parent);
    const bucket = this.bucket.id;
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${prefix}-data`,
      {
        bucket,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(
      `${prefix}-data`,
      { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${prefix}-data`,
      {
        bucket,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" },
            bucketKeyEnabled: true,
          },
        ],
      },
      parent,
    );
    if (args.versioning) {
      new aws.s3.BucketVersioning(
        `${prefix}-data`,
        { bucket, versioningConfiguration: { status: "Enabled" } },
        parent,
      );
    }

    const expiryDays = backstopExpiryDays(args.audioTtlSeconds);
    // With versioning a deleted object lingers as a noncurrent version: keep those a week, no longer.
    const noncurrent = args.versioning ? { noncurrentVersionExpiration: { noncurrentDays: 7 } } : {};
    new aws.s3.BucketLifecycleConfiguration(
      `${prefix}-data`,
      {
        bucket,
        rules: [
          ...EXPIRING.map((collection) => ({
            id: `expire-${collection.replace("/", "")}`,
            status: "Enabled",
            filter: { prefix: `${keyPrefix}${collection}` },
            expiration: { days: expiryDays },
            ...noncurrent,
          })),
          {
            id: "abort-incomplete-uploads",
            status: "Enabled",
            filter: { prefix: keyPrefix },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
            ...noncurrent,
          },
        ],
      },
      parent,
    );

    new aws.s3.BucketPolicy(
      `${prefix}-data`,
      {
        bucket,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "TlsOnly",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      // A bucket policy put before the public-access block would count as public for a moment.
      { ...parent, dependsOn: [publicAccess] },
    );
    this.registerOutputs({ bucketName: this.bucket.id });
  }

  /**
   * What the node may do in the bucket: read, write and delete objects under its prefix, list only that prefix.
   * Nothing account-wide and nothing outside the prefix.
   */
  nodeStatements(): Statement[] {
    return [
      {
        Sid: "ObjectsUnderPrefix",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        Resource: pulumi.interpolate`${this.bucket.arn}/${this.keyPrefix}*`,
      },
      {
        Sid: "ListPrefix",
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: this.bucket.arn,
        ...(this.keyPrefix && { Condition: { StringLike: { "s3:prefix": [`${this.keyPrefix}*`] } } }),
      },
    ];
  }
}
