import { createHmac } from "node:crypto";

import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { StackConfig } from "./config.ts";
import type { Containers } from "./containers.ts";
import { aliasRecord, validatedCertificate } from "./dns.ts";
import { policyDocument, serviceRole, type AwsContext } from "./iam.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import type { Network } from "./network.ts";
import {
  COLLECTOR_CONTAINER,
  collectorConfig,
  logGroup,
  OTLP_ENDPOINT,
  XRAY_WRITE_ACTIONS,
} from "./observability.ts";
import type { AppSecrets } from "./secrets.ts";

/** The standalone Next.js server's port (apps/web/Dockerfile). */
export const WEB_PORT = 3000;
export const WEB_SERVICE_NAME = "web";
/** CloudFront sends it to the ALB, which forwards the web host only with it: the ALB is no back door. */
export const ORIGIN_HEADER = "X-Origin-Verify";

/** AWS-managed CloudFront policies (IDs are fixed and documented). */
const CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3";
const CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2";

export interface EcsWebArgs {
  config: StackConfig;
  ctx: AwsContext;
  network: Network;
  containers: Containers;
  loadBalancer: LoadBalancer;
  secrets: AppSecrets;
  logRetentionDays: number;
  zoneId: pulumi.Input<string>;
  apiUrl: string;
}

/**
 * The web app as its standalone image on Fargate, behind the shared ALB (a host rule) and CloudFront (the web
 * domain, TLS at the edge, cached static assets). Secrets are injected by ECS from the web secret; only CloudFront
 * reaches the web rule, by a header derived from the session secret.
 */
export class EcsWeb extends pulumi.ComponentResource {
  readonly service: aws.ecs.Service;
  readonly distribution: aws.cloudfront.Distribution;
  readonly url: string;
  readonly serviceName = WEB_SERVICE_NAME;

  constructor(name: string, args: EcsWebArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:web:EcsWeb", name, {}, opts);
    const parent = { parent: this };
    const { config, ctx, network, containers, loadBalancer, secrets } = args;
    const { prefix, webDomain } = config;
    const originSecret = config.secrets.sessionSecret.apply((secret) =>
      createHmac("sha256", secret).update("cloudfront-origin").digest("hex"),
    );

    const securityGroup = new aws.ec2.SecurityGroup(
      `${prefix}-web`,
      { vpcId: network.vpc.id, description: "Web tasks: the Next.js port from the ALB only" },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${prefix}-web-from-alb`,
      {
        securityGroupId: securityGroup.id,
        referencedSecurityGroupId: loadBalancer.securityGroup.id,
        ipProtocol: "tcp",
        fromPort: WEB_PORT,
        toPort: WEB_PORT,
        description: "Next.js from the load balancer",
      },
      parent,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${prefix}-web-out`,
      {
        securityGroupId: securityGroup.id,
        cidrIpv4: "0.0.0.0/0",
        ipProtocol: "-1",
        description: "ECR, the API",
      },
      parent,
    );

    const executionRole = serviceRole(
      `${prefix}-web-exec`,
      {
        service: "ecs-tasks.amazonaws.com",
        sourceAccount: ctx.accountId,
        description: "ECS agent for web tasks: pull images, write logs, read the web secret",
      },
      parent,
    );
    new aws.iam.RolePolicyAttachment(
      `${prefix}-web-exec`,
      {
        role: executionRole.name,
        policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${prefix}-web-exec-secrets`,
      {
        role: executionRole.id,
        policy: policyDocument([
          {
            Sid: "WebSecretOnly",
            Effect: "Allow",
            Action: "secretsmanager:GetSecretValue",
            Resource: secrets.web.secret.arn,
          },
        ]),
      },
      parent,
    );

    const targetGroup = new aws.lb.TargetGroup(
      `${prefix}-web`,
      {
        vpcId: network.vpc.id,
        targetType: "ip",
        protocol: "HTTP",
        port: WEB_PORT,
        deregistrationDelay: 30,
        healthCheck: { path: "/healthz", matcher: "200", interval: 15, timeout: 5, healthyThreshold: 2 },
      },
      parent,
    );
    const webHost = { hostHeader: { values: [webDomain] } };
    const viaCloudFront = new aws.lb.ListenerRule(
      `${prefix}-web`,
      {
        listenerArn: loadBalancer.httpsListener.arn,
        priority: 10,
        conditions: [webHost, { httpHeader: { httpHeaderName: ORIGIN_HEADER, values: [originSecret] } }],
        actions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
      },
      parent,
    );
    new aws.lb.ListenerRule(
      `${prefix}-web-direct`,
      {
        listenerArn: loadBalancer.httpsListener.arn,
        priority: 20,
        conditions: [webHost],
        actions: [
          {
            type: "fixed-response",
            fixedResponse: {
              statusCode: "403",
              contentType: "text/plain",
              messageBody: `Use https://${webDomain}`,
            },
          },
        ],
      },
      parent,
    );

    // The web server's spans (a render, then its tRPC calls to the node) go to a collector beside it, which
    // forwards them to X-Ray with the task role: the same trace as the node's spans.
    const taskRole = serviceRole(
      `${prefix}-web-task`,
      {
        service: "ecs-tasks.amazonaws.com",
        sourceAccount: ctx.accountId,
        description: "Web tasks' collector: traces to X-Ray",
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${prefix}-web-task`,
      {
        role: taskRole.id,
        policy: policyDocument([
          { Sid: "CollectorTraces", Effect: "Allow", Action: XRAY_WRITE_ACTIONS, Resource: "*" },
        ]),
      },
      parent,
    );

    const region = ctx.region;
    const logs = logGroup(prefix, "web", args.logRetentionDays, parent);
    const collectorLogs = logGroup(prefix, "web-collector", args.logRetentionDays, parent);
    const awsLogs = (group: aws.cloudwatch.LogGroup, streamPrefix: string) => ({
      logDriver: "awslogs",
      options: {
        "awslogs-group": group.name,
        "awslogs-region": region,
        "awslogs-stream-prefix": streamPrefix,
      },
    });
    const taskDefinition = new aws.ecs.TaskDefinition(
      `${prefix}-web`,
      {
        family: `${prefix}-web`,
        networkMode: "awsvpc",
        requiresCompatibilities: ["FARGATE"],
        cpu: String(config.webCpu),
        memory: String(config.webMemory),
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
        executionRoleArn: executionRole.arn,
        taskRoleArn: taskRole.arn,
        containerDefinitions: pulumi.jsonStringify([
          {
            name: WEB_SERVICE_NAME,
            image: containers.image("web", config.imageTag),
            essential: true,
            portMappings: [{ containerPort: WEB_PORT, protocol: "tcp", name: "http" }],
            environment: Object.entries({
              PORT: String(WEB_PORT),
              HOSTNAME: "0.0.0.0",
              NEXT_PUBLIC_TTS_API_BASE: args.apiUrl,
              // CloudFront, then the ALB, each append to X-Forwarded-For.
              TRUSTED_PROXY_HOPS: "2",
              OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_ENDPOINT,
              OTEL_SERVICE_NAME: `${prefix}-web`,
            }).map(([key, value]) => ({ name: key, value })),
            secrets: secrets.web.ecsSecrets("TTS_SESSION_SECRET", "SITE_PASSWORD"),
            healthCheck: {
              command: [
                "CMD",
                "node",
                "-e",
                `fetch('http://127.0.0.1:${WEB_PORT}/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`,
              ],
              interval: 30,
              timeout: 5,
              retries: 3,
              startPeriod: 30,
            },
            dependsOn: [{ containerName: COLLECTOR_CONTAINER, condition: "START" }],
            logConfiguration: awsLogs(logs, "web"),
          },
          {
            name: COLLECTOR_CONTAINER,
            image: config.collectorImage,
            // Telemetry must never take the web app down with it.
            essential: false,
            memoryReservation: 64,
            environment: [
              {
                name: "AOT_CONFIG_CONTENT",
                value: region.apply((name) => collectorConfig({ region: name })),
              },
            ],
            logConfiguration: awsLogs(collectorLogs, COLLECTOR_CONTAINER),
          },
        ]),
      },
      parent,
    );

    this.service = new aws.ecs.Service(
      `${prefix}-web`,
      {
        name: WEB_SERVICE_NAME,
        cluster: containers.cluster.arn,
        taskDefinition: taskDefinition.arn,
        desiredCount: config.webTasks,
        launchType: "FARGATE",
        platformVersion: "LATEST",
        networkConfiguration: {
          subnets: network.taskSubnetIds,
          securityGroups: [securityGroup.id],
          assignPublicIp: network.assignPublicIp,
        },
        loadBalancers: [
          { targetGroupArn: targetGroup.arn, containerName: WEB_SERVICE_NAME, containerPort: WEB_PORT },
        ],
        healthCheckGracePeriodSeconds: 60,
        deploymentMinimumHealthyPercent: 100,
        deploymentMaximumPercent: 200,
        deploymentCircuitBreaker: { enable: true, rollback: true },
        propagateTags: "SERVICE",
        waitForSteadyState: false,
      },
      { ...parent, dependsOn: [viaCloudFront] },
    );

    // CloudFront only takes certificates from us-east-1.
    const usEast1 = new aws.Provider(`${prefix}-us-east-1`, { region: "us-east-1" }, parent);
    const certificateArn = validatedCertificate(
      `${prefix}-web-edge`,
      { domains: [webDomain], zoneId: args.zoneId },
      { ...parent, provider: usEast1 },
    );
    const originId = "alb";
    this.distribution = new aws.cloudfront.Distribution(
      `${prefix}-web`,
      {
        enabled: true,
        comment: `${prefix} web app`,
        aliases: [webDomain],
        httpVersion: "http2and3",
        isIpv6Enabled: true,
        priceClass: "PriceClass_100",
        origins: [
          {
            originId,
            domainName: loadBalancer.alb.dnsName,
            customOriginConfig: {
              httpPort: 80,
              httpsPort: 443,
              // The viewer's Host travels along (AllViewer), and the ALB's certificate names the web domain.
              originProtocolPolicy: "https-only",
              originSslProtocols: ["TLSv1.2"],
              originReadTimeout: 60,
            },
            customHeaders: [{ name: ORIGIN_HEADER, value: originSecret }],
          },
        ],
        defaultCacheBehavior: {
          targetOriginId: originId,
          viewerProtocolPolicy: "redirect-to-https",
          allowedMethods: ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
          cachedMethods: ["GET", "HEAD"],
          cachePolicyId: CACHING_DISABLED,
          originRequestPolicyId: ALL_VIEWER,
          compress: true,
        },
        orderedCacheBehaviors: [
          {
            // Content-hashed build assets: cache at the edge for as long as the policy allows.
            pathPattern: "/_next/static/*",
            targetOriginId: originId,
            viewerProtocolPolicy: "redirect-to-https",
            allowedMethods: ["GET", "HEAD"],
            cachedMethods: ["GET", "HEAD"],
            cachePolicyId: CACHING_OPTIMIZED,
            originRequestPolicyId: ALL_VIEWER,
            compress: true,
          },
        ],
        viewerCertificate: {
          acmCertificateArn: certificateArn,
          sslSupportMethod: "sni-only",
          minimumProtocolVersion: "TLSv1.2_2021",
        },
        restrictions: { geoRestriction: { restrictionType: "none" } },
      },
      parent,
    );
    for (const type of ["A", "AAAA"] as const) {
      aliasRecord(
        `${prefix}-web-${type.toLowerCase()}`,
        {
          zoneId: args.zoneId,
          domain: webDomain,
          type,
          target: { dnsName: this.distribution.domainName, zoneId: CLOUDFRONT_ZONE_ID },
          evaluateTargetHealth: false,
        },
        parent,
      );
    }
    this.url = `https://${webDomain}`;
    this.registerOutputs({ distributionId: this.distribution.id });
  }
}
