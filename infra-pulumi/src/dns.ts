import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/** The public hosted zone every name of the stack lives in. */
export function hostedZoneId(zoneName: string, opts?: pulumi.InvokeOutputOptions): pulumi.Output<string> {
  return aws.route53.getZoneOutput({ name: zoneName, privateZone: false }, opts).zoneId;
}

/**
 * A DNS-validated ACM certificate, valid once its CNAME records are in the zone. `domains` is the primary name
 * followed by any alternative names; one validation record is written per name.
 */
export function validatedCertificate(
  name: string,
  args: { domains: [string, ...string[]]; zoneId: pulumi.Input<string> },
  opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
  const [domainName, ...alternatives] = args.domains;
  const certificate = new aws.acm.Certificate(
    name,
    {
      domainName,
      subjectAlternativeNames: alternatives,
      validationMethod: "DNS",
    },
    opts,
  );
  const records = args.domains.map((_, index) => {
    const option = certificate.domainValidationOptions[index]!;
    // Records live in the zone's own provider (the default one), whatever region the certificate is in.
    return new aws.route53.Record(
      `${name}-validation-${index}`,
      {
        zoneId: args.zoneId,
        name: option.resourceRecordName,
        type: option.resourceRecordType,
        records: [option.resourceRecordValue],
        ttl: 300,
        allowOverwrite: true,
      },
      { parent: opts.parent },
    );
  });
  return new aws.acm.CertificateValidation(
    name,
    { certificateArn: certificate.arn, validationRecordFqdns: records.map((record) => record.fqdn) },
    opts,
  ).certificateArn;
}

/** An alias record for a load balancer (target health evaluated) or a CloudFront distribution (never). */
export function aliasRecord(
  name: string,
  args: {
    zoneId: pulumi.Input<string>;
    domain: string;
    target: { dnsName: pulumi.Input<string>; zoneId: pulumi.Input<string> };
    type?: "A" | "AAAA";
    evaluateTargetHealth: boolean;
  },
  opts: pulumi.CustomResourceOptions,
): aws.route53.Record {
  return new aws.route53.Record(
    name,
    {
      zoneId: args.zoneId,
      name: args.domain,
      type: args.type ?? "A",
      aliases: [
        {
          name: args.target.dnsName,
          zoneId: args.target.zoneId,
          evaluateTargetHealth: args.evaluateTargetHealth,
        },
      ],
    },
    opts,
  );
}
