import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface Statement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Resource?: pulumi.Input<string> | pulumi.Input<string>[];
  Principal?: Record<string, pulumi.Input<string> | pulumi.Input<string>[]> | "*";
  Condition?: Record<string, Record<string, pulumi.Input<string> | pulumi.Input<string>[]>>;
}

/** An IAM policy document as the JSON string AWS takes (Outputs inside are resolved first). */
export function policyDocument(statements: Statement[]): pulumi.Output<string> {
  return pulumi.jsonStringify({ Version: "2012-10-17", Statement: statements });
}

/** Account, region and partition of the provider, for ARNs the program writes itself. */
export interface AwsContext {
  accountId: pulumi.Output<string>;
  region: pulumi.Output<string>;
  partition: pulumi.Output<string>;
}

export function awsContext(opts?: pulumi.InvokeOutputOptions): AwsContext {
  return {
    accountId: aws.getCallerIdentityOutput({}, opts).accountId,
    region: aws.getRegionOutput({}, opts).region,
    partition: aws.getPartitionOutput({}, opts).partition,
  };
}

/**
 * A role that one AWS service assumes. With `sourceAccount`, only on behalf of this account (the confused-deputy
 * guard ECS documents for task roles; EC2 and Amplify do not send the key).
 */
export function serviceRole(
  name: string,
  args: { service: string; description: string; sourceAccount?: pulumi.Input<string> },
  opts: pulumi.CustomResourceOptions,
): aws.iam.Role {
  return new aws.iam.Role(
    name,
    {
      description: args.description,
      assumeRolePolicy: policyDocument([
        {
          Effect: "Allow",
          Principal: { Service: args.service },
          Action: "sts:AssumeRole",
          ...(args.sourceAccount && {
            Condition: { StringEquals: { "aws:SourceAccount": args.sourceAccount } },
          }),
        },
      ]),
    },
    opts,
  );
}
