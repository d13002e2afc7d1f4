import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { TaskSubnets } from "./config.ts";

export const VPC_CIDR = "10.40.0.0/16";
/** One /20 per AZ and tier: 4,091 addresses each, room for many awsvpc tasks. */
const PUBLIC_CIDRS = ["10.40.0.0/20", "10.40.16.0/20"];
const PRIVATE_CIDRS = ["10.40.128.0/20", "10.40.144.0/20"];

export interface NetworkArgs {
  prefix: string;
  taskSubnets: TaskSubnets;
  /** Two zones; default: the region's first two available ones. */
  availabilityZones?: [string, string];
}

/**
 * A VPC over two AZs. Public subnets hold the load balancer (and, with taskSubnets=public, the tasks, each with a
 * public IP and no inbound path but the ALB). With taskSubnets=private the tasks sit in private subnets behind one
 * NAT gateway per AZ. Either way S3 traffic takes a free gateway endpoint.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpc: aws.ec2.Vpc;
  readonly publicSubnets: aws.ec2.Subnet[];
  readonly privateSubnets: aws.ec2.Subnet[];
  /** Where tasks (and GPU instances) run. */
  readonly taskSubnetIds: pulumi.Output<string>[];
  /** Whether tasks need a public IP of their own to reach ECR, S3 and the model hub. */
  readonly assignPublicIp: boolean;
  /** The ALB's subnets: the only addresses whose X-Forwarded-For the services believe. */
  readonly loadBalancerCidrs = PUBLIC_CIDRS;
  readonly vpcCidr = VPC_CIDR;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tts:network:Network", name, {}, opts);
    const parent = { parent: this };
    const { prefix } = args;
    const zones: pulumi.Input<string>[] =
      args.availabilityZones ??
      (() => {
        const names = aws.getAvailabilityZonesOutput({ state: "available" }, parent).names;
        return [names[0]!, names[1]!];
      })();

    this.vpc = new aws.ec2.Vpc(
      `${prefix}-vpc`,
      {
        cidrBlock: VPC_CIDR,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: `${prefix}-vpc` },
      },
      parent,
    );
    const vpcId = this.vpc.id;
    const internetGateway = new aws.ec2.InternetGateway(
      `${prefix}-igw`,
      { vpcId, tags: { Name: `${prefix}-igw` } },
      parent,
    );

    const publicRoutes = new aws.ec2.RouteTable(
      `${prefix}-public`,
      {
        vpcId,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: internetGateway.id }],
        tags: { Name: `${prefix}-public` },
      },
      parent,
    );
    this.publicSubnets = PUBLIC_CIDRS.map((cidrBlock, index) => {
      const subnet = new aws.ec2.Subnet(
        `${prefix}-public-${index}`,
        {
          vpcId,
          cidrBlock,
          availabilityZone: zones[index],
          // Nothing gets a public IP by accident: the ALB has its own, tasks ask for one explicitly.
          mapPublicIpOnLaunch: false,
          tags: { Name: `${prefix}-public-${index}`, Tier: "public" },
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${prefix}-public-${index}`,
        { subnetId: subnet.id, routeTableId: publicRoutes.id },
        parent,
      );
      return subnet;
    });

    const routeTables = [publicRoutes];
    this.privateSubnets = [];
    if (args.taskSubnets === "private") {
      this.privateSubnets = PRIVATE_CIDRS.map((cidrBlock, index) => {
        const subnet = new aws.ec2.Subnet(
          `${prefix}-private-${index}`,
          {
            vpcId,
            cidrBlock,
            availabilityZone: zones[index],
            mapPublicIpOnLaunch: false,
            tags: { Name: `${prefix}-private-${index}`, Tier: "private" },
          },
          parent,
        );
        // One NAT per AZ: an AZ outage does not cut the other AZ's tasks off ECR, S3 and the model hub.
        const address = new aws.ec2.Eip(
          `${prefix}-nat-${index}`,
          { domain: "vpc", tags: { Name: `${prefix}-nat-${index}` } },
          { ...parent, dependsOn: [internetGateway] },
        );
        const nat = new aws.ec2.NatGateway(
          `${prefix}-nat-${index}`,
          {
            allocationId: address.id,
            subnetId: this.publicSubnets[index]!.id,
            tags: { Name: `${prefix}-nat-${index}` },
          },
          parent,
        );
        const routes = new aws.ec2.RouteTable(
          `${prefix}-private-${index}`,
          {
            vpcId,
            routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
            tags: { Name: `${prefix}-private-${index}` },
          },
          parent,
        );
        new aws.ec2.RouteTableAssociation(
          `${prefix}-private-${index}`,
          { subnetId: subnet.id, routeTableId: routes.id },
          parent,
        );
        routeTables.push(routes);
        return subnet;
      });
    }

    // S3 without NAT data charges or the internet (gateway endpoints are free).
    const region = aws.getRegionOutput({}, parent).region;
    new aws.ec2.VpcEndpoint(
      `${prefix}-s3`,
      {
        vpcId,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: routeTables.map((table) => table.id),
        tags: { Name: `${prefix}-s3` },
      },
      parent,
    );

    this.assignPublicIp = args.taskSubnets === "public";
    this.taskSubnetIds = (args.taskSubnets === "private" ? this.privateSubnets : this.publicSubnets).map(
      (subnet) => subnet.id,
    );
    this.registerOutputs({ vpcId, taskSubnetIds: this.taskSubnetIds });
  }

  get publicSubnetIds(): pulumi.Output<string>[] {
    return this.publicSubnets.map((subnet) => subnet.id);
  }
}
