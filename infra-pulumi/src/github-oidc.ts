import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { policyDocument, type AwsContext } from "./iam.ts";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
/** The only branch whose workflows may deploy. */
export const DEPLOY_BRANCH = "main";

export interface GithubDeployRoleArgs {
  prefix: string;
  ctx: AwsContext;
  /** owner/name of the repository whose main branch deploys. */
  githubRepo: string;
  /** An existing provider for token.actions.githubusercontent.com (IAM allows one per account). */
  existingProviderArn?: string;
}

/**
 * CI/CD without stored AWS keys: GitHub's OIDC provider and a role that only workflow runs on the main branch of
 * one repository can assume. What it may do is what `pulumi up` of this program and pushing images need, which is
 * broad (see docs/deploy.md): PowerUserAccess (everything but IAM and Organizations) plus IAM limited to this
 * stack's own names (`<prefix>-*`).
 */
export class GithubDeployRole extends pulumi.ComponentResource {
  readonly role: aws.iam.Role;
  readonly providerArn: pulumi.Output<string>;

  constructor(name: string, args: GithubDeployRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:cicd:GithubDeployRole", name, {}, opts);
    const parent = { parent: this };
    const { prefix, ctx } = args;

    this.providerArn = args.existingProviderArn
      ? pulumi.output(args.existingProviderArn)
      : new aws.iam.OpenIdConnectProvider(
          `${prefix}-github`,
          { url: `https://${GITHUB_OIDC_HOST}`, clientIdLists: ["sts.amazonaws.com"] },
          parent,
        ).arn;

    this.role = new aws.iam.Role(
      `${prefix}-deploy`,
      {
        description: `GitHub Actions deploys of ${args.githubRepo} (${DEPLOY_BRANCH} branch only)`,
        // `pulumi up` with a GPU capacity change can run long.
        maxSessionDuration: 7200,
        assumeRolePolicy: policyDocument([
          {
            Effect: "Allow",
            Principal: { Federated: this.providerArn },
            Action: "sts:AssumeRoleWithWebIdentity",
            Condition: {
              StringEquals: {
                [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com",
                [`${GITHUB_OIDC_HOST}:sub`]: `repo:${args.githubRepo}:ref:refs/heads/${DEPLOY_BRANCH}`,
              },
            },
          },
        ]),
      },
      parent,
    );
    new aws.iam.RolePolicyAttachment(
      `${prefix}-deploy-power-user`,
      { role: this.role.name, policyArn: "arn:aws:iam::aws:policy/PowerUserAccess" },
      parent,
    );
    const iam = pulumi.interpolate`arn:${ctx.partition}:iam::${ctx.accountId}`;
    new aws.iam.RolePolicy(
      `${prefix}-deploy-iam`,
      {
        role: this.role.id,
        policy: policyDocument([
          {
            Sid: "ReadIam",
            Effect: "Allow",
            Action: ["iam:Get*", "iam:List*"],
            Resource: "*",
          },
          {
            Sid: "ThisStacksIam",
            Effect: "Allow",
            Action: "iam:*",
            Resource: [
              pulumi.interpolate`${iam}:role/${prefix}-*`,
              pulumi.interpolate`${iam}:instance-profile/${prefix}-*`,
              pulumi.interpolate`${iam}:oidc-provider/${GITHUB_OIDC_HOST}`,
            ],
          },
          {
            Sid: "ServiceLinkedRoles",
            Effect: "Allow",
            Action: "iam:CreateServiceLinkedRole",
            Resource: "*",
            Condition: {
              StringEquals: {
                "iam:AWSServiceName": [
                  "ecs.amazonaws.com",
                  "ecs.application-autoscaling.amazonaws.com",
                  "elasticloadbalancing.amazonaws.com",
                  "autoscaling.amazonaws.com",
                  "elasticfilesystem.amazonaws.com",
                ],
              },
            },
          },
        ]),
      },
      parent,
    );
    this.registerOutputs({ roleArn: this.role.arn });
  }
}
