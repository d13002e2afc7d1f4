// The AWS deployment of the TTS platform (docs/deploy.md). Each module builds one part from @pulumi/aws resources;
// this file reads the stack's settings, wires the parts together and exports what CI and operators need.
import { AmplifyWeb } from "./src/amplify.ts";
import { ServiceAutoscaling } from "./src/autoscaling.ts";
import { loadConfig } from "./src/config.ts";
import { Containers } from "./src/containers.ts";
import { aliasRecord, hostedZoneId } from "./src/dns.ts";
import { DEPLOY_BRANCH, GithubDeployRole } from "./src/github-oidc.ts";
import { awsContext } from "./src/iam.ts";
import { InferenceService } from "./src/inference-service.ts";
import { LoadBalancer } from "./src/load-balancer.ts";
import { Network } from "./src/network.ts";
import { Alarms, LogGroups } from "./src/observability.ts";
import { AppSecrets } from "./src/secrets.ts";
import { AudioBucket } from "./src/storage.ts";
import { EcsWeb } from "./src/web-service.ts";

const config = loadConfig();
const { prefix } = config;
const ctx = awsContext();
const zoneId = hostedZoneId(config.zoneName);
/** Where browsers and clients reach the inference node. */
export const apiUrl = `https://${config.apiDomain}`;

const network = new Network(prefix, {
  prefix,
  taskSubnets: config.taskSubnets,
  availabilityZones: config.availabilityZones,
});
const containers = new Containers(prefix, { prefix, forceDestroy: config.forceDestroy });
const secrets = new AppSecrets(prefix, {
  prefix,
  secrets: config.secrets,
  forceDestroy: config.forceDestroy,
});
const bucket = new AudioBucket(prefix, {
  prefix,
  keyPrefix: config.s3Prefix,
  audioTtlSeconds: config.audioTtlSeconds,
  versioning: config.bucketVersioning,
  forceDestroy: config.forceDestroy,
});
const logs = new LogGroups(prefix, { prefix, retentionDays: config.logRetentionDays });

const loadBalancer = new LoadBalancer(prefix, {
  prefix,
  vpcId: network.vpc.id,
  vpcCidr: network.vpcCidr,
  subnetIds: network.publicSubnetIds,
  zoneId,
  // With the web app on ECS, CloudFront reaches it through this ALB under the web domain.
  domains: config.webHosting === "ecs" ? [config.apiDomain, config.webDomain] : [config.apiDomain],
  idleTimeoutSeconds: config.albIdleTimeoutSeconds,
  tlsPolicy: config.tlsPolicy,
  deregistrationDelaySeconds: config.drainTimeoutSeconds,
});
aliasRecord(
  `${prefix}-api`,
  {
    zoneId,
    domain: config.apiDomain,
    target: { dnsName: loadBalancer.alb.dnsName, zoneId: loadBalancer.alb.zoneId },
    evaluateTargetHealth: true,
  },
  {},
);

const inference = new InferenceService(prefix, {
  config,
  ctx,
  network,
  containers,
  loadBalancer,
  bucket,
  secrets,
  logs,
});
new ServiceAutoscaling(prefix, {
  prefix,
  clusterName: containers.clusterName,
  serviceName: inference.serviceName,
  service: inference.service,
  minTasks: config.minTasks,
  maxTasks: config.maxTasks,
  targetJobsPerTask: config.targetJobsPerTask,
  targetCpuPercent: config.targetCpuPercent,
});
new Alarms(prefix, {
  prefix,
  loadBalancerArnSuffix: loadBalancer.alb.arnSuffix,
  targetGroupArnSuffix: loadBalancer.inferenceTargetGroup.arnSuffix,
  clusterName: containers.clusterName,
  serviceName: inference.serviceName,
  target5xxCount: config.alarm5xxCount,
  latencyP99Seconds: config.alarmLatencyP99Seconds,
  queueDepth: config.alarmQueueDepth,
  email: config.alarmEmail,
});

const web =
  config.webHosting === "amplify"
    ? new AmplifyWeb(prefix, {
        prefix,
        ctx,
        githubRepo: config.githubRepo,
        accessToken: config.secrets.githubAccessToken,
        webDomain: config.webDomain,
        apiUrl,
        webSecretArn: secrets.web.secret.arn,
        branch: DEPLOY_BRANCH,
      })
    : new EcsWeb(prefix, {
        config,
        ctx,
        network,
        containers,
        loadBalancer,
        secrets,
        logRetentionDays: config.logRetentionDays,
        zoneId,
        apiUrl,
      });

const deploy = new GithubDeployRole(prefix, {
  prefix,
  ctx,
  githubRepo: config.githubRepo,
  existingProviderArn: config.githubOidcProviderArn,
});

export const webUrl = web.url;
export const ecrRepositoryUrls = {
  inferenceCpu: containers.repositories["inference-cpu"].repositoryUrl,
  inferenceCuda: containers.repositories["inference-cuda"].repositoryUrl,
  web: containers.repositories.web.repositoryUrl,
};
export const clusterName = containers.cluster.name;
export const serviceName = inference.service.name;
export const webServiceName = web instanceof EcsWeb ? web.service.name : undefined;
export const bucketName = bucket.bucket.id;
export const deployRoleArn = deploy.role.arn;
export const nodeSecretArn = secrets.node.secret.arn;
export const webSecretArn = secrets.web.secret.arn;
export const modelCacheFileSystemId = inference.modelCache.fileSystem.id;
/** For one-off tasks beside the service (e.g. `models pull` into the cache, docs/deploy.md). */
export const taskSubnetIds = network.taskSubnetIds;
export const taskSecurityGroupId = inference.securityGroup.id;
export const taskDefinitionFamily = inference.taskDefinition.family;
export const loadBalancerDnsName = loadBalancer.alb.dnsName;
export const amplifyAppId = web instanceof AmplifyWeb ? web.app.id : undefined;
export const cloudfrontDistributionId = web instanceof EcsWeb ? web.distribution.id : undefined;
export const gpu = config.gpu;
