import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import { validatedCertificate } from "./dns.ts";

/** The inference node's port (PORT; the earlier service's 7860). */
export const INFERENCE_PORT = 7860;

export interface LoadBalancerArgs {
  prefix: string;
  vpcId: pulumi.Input<string>;
  vpcCidr: string;
  subnetIds: pulumi.Input<string>[];
  zoneId: pulumi.Input<string>;
  /** The certificate's names: the API domain first, then any other host the ALB serves (the web origin). */
  domains: [string, ...string[]];
  idleTimeoutSeconds: number;
  tlsPolicy: string;
  /** How long a deregistered task keeps its in-flight requests: the node's DRAIN_TIMEOUT_SECONDS. */
  deregistrationDelaySeconds: number;
}

/**
 * The public entry: an ALB on 80 and 443 only. HTTPS (ACM certificate, DNS-validated; a TLS 1.3 policy) forwards
 * to the inference target group, whose health check is the node's readiness; HTTP only redirects to HTTPS.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  readonly securityGroup: aws.ec2.SecurityGroup;
  readonly alb: aws.lb.LoadBalancer;
  readonly inferenceTargetGroup: aws.lb.TargetGroup;
  readonly httpsListener: aws.lb.Listener;
  readonly httpListener: aws.lb.Listener;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:lb:LoadBalancer", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;

    this.securityGroup = new aws.ec2.SecurityGroup(
      `${prefix}-alb`,
      { vpcId: args.vpcId, description: "ALB: HTTP and HTTPS from anywhere, to targets in the VPC" },
      parent,
    );
    for (const port of [80, 443]) {
      new aws.vpc.SecurityGroupIngressRule(
        `${prefix}-alb-${port}`,
        {
          securityGroupId: this.securityGroup.id,
          cidrIpv4: "0.0.0.0/0",
          ipProtocol: "tcp",
          fromPort: port,
          toPort: port,
          description: port === 443 ? "HTTPS" : "HTTP (redirected to HTTPS)",
        },
        parent,
      );
    }
    new aws.vpc.SecurityGroupEgressRule(
      `${prefix}-alb-targets`,
      {
        securityGroupId: this.securityGroup.id,
        cidrIpv4: args.vpcCidr,
        ipProtocol: "tcp",
        fromPort: 1,
        toPort: 65535,
        description: "Targets (their own groups admit only this one)",
      },
      parent,
    );

    this.alb = new aws.lb.LoadBalancer(
      `${prefix}-alb`,
      {
        loadBalancerType: "application",
        internal: false,
        subnets: args.subnetIds,
        securityGroups: [this.securityGroup.id],
        // Longer than any silence on an open connection (see docs/deploy.md, "Timeouts").
        idleTimeout: args.idleTimeoutSeconds,
        dropInvalidHeaderFields: true,
        enableHttp2: true,
      },
      parent,
    );

    // Target group names are limited to 32 characters, the 8 of Pulumi's suffix included: short logical names.
    this.inferenceTargetGroup = new aws.lb.TargetGroup(
      `${prefix}-api`,
      {
        vpcId: args.vpcId,
        targetType: "ip",
        protocol: "HTTP",
        port: INFERENCE_PORT,
        deregistrationDelay: args.deregistrationDelaySeconds,
        // Syntheses differ in length by orders of magnitude: send new work to the task with the least in flight.
        loadBalancingAlgorithmType: "least_outstanding_requests",
        healthCheck: {
          path: "/readyz",
          matcher: "200",
          interval: 15,
          timeout: 5,
          healthyThreshold: 2,
          unhealthyThreshold: 3,
        },
      },
      parent,
    );

    const certificateArn = validatedCertificate(
      `${prefix}-alb`,
      { domains: args.domains, zoneId: args.zoneId },
      parent,
    );
    this.httpsListener = new aws.lb.Listener(
      `${prefix}-https`,
      {
        loadBalancerArn: this.alb.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: args.tlsPolicy,
        certificateArn,
        defaultActions: [{ type: "forward", targetGroupArn: this.inferenceTargetGroup.arn }],
      },
      parent,
    );
    this.httpListener = new aws.lb.Listener(
      `${prefix}-http`,
      {
        loadBalancerArn: this.alb.arn,
        port: 80,
        protocol: "HTTP",
        defaultActions: [
          {
            type: "redirect",
            redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" },
          },
        ],
      },
      parent,
    );
    this.registerOutputs({ dnsName: this.alb.dnsName });
  }
}
