"""Network: a VPC with public and private subnets per AZ, NAT, private AWS endpoints and flow logs.

Workloads (nodes, endpoints, training jobs) live in the private subnets; the public subnets hold
only NAT gateways and internet-facing load balancers. AWS APIs that images and jobs call on every
start (ECR, STS, CloudWatch Logs, SageMaker, S3) are reached through VPC endpoints, so that traffic
stays off NAT and off the internet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import document, service_trust
from infra.config import NetworkConfig


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    config: NetworkConfig
    region: str
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    cluster_name: str
    """Subnets carry this cluster's discovery tags so Karpenter and load balancers find them."""


def subnet_layout(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Private and public subnet CIDRs, one of each per AZ.

    The VPC is cut into eighths: the first ``az_count`` eighths are private subnets (large, since the
    VPC CNI gives every pod a VPC address); the last eighth is cut again into small public subnets.
    """
    vpc = ipaddress.IPv4Network(cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    public = list(eighths[-1].subnets(prefixlen_diff=3))
    return [str(n) for n in eighths[:az_count]], [str(n) for n in public[:az_count]]


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    private_subnets: list[aws.ec2.Subnet]
    public_subnets: list[aws.ec2.Subnet]
    endpoint_security_group: aws.ec2.SecurityGroup
    s3_endpoint: aws.ec2.VpcEndpoint
    """The S3 gateway endpoint; its prefix list is where security groups must allow S3 traffic."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:network:Network", name, None, opts)
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        azs = cfg.availability_zones

        self.vpc = aws.ec2.Vpc(name, cidr_block=cfg.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                               tags={"Name": name}, opts=self._child)
        # The default security group is attached to anything created without one; leave it empty.
        aws.ec2.DefaultSecurityGroup(name, vpc_id=self.vpc.id, ingress=[], egress=[],
                                     tags={"Name": f"{name}-default-deny"}, opts=self._child)

        private_cidrs, public_cidrs = subnet_layout(cfg.cidr, len(azs))
        cluster_tag = f"kubernetes.io/cluster/{args.cluster_name}"
        self.public_subnets = [
            aws.ec2.Subnet(
                f"{name}-public-{az}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=az,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{az}", "kubernetes.io/role/elb": "1", cluster_tag: "shared"},
                opts=self._child,
            )
            for az, cidr in zip(azs, public_cidrs, strict=True)
        ]
        self.private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{az}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=az,
                tags={"Name": f"{name}-private-{az}", "kubernetes.io/role/internal-elb": "1",
                      cluster_tag: "shared", "karpenter.sh/discovery": args.cluster_name},
                opts=self._child,
            )
            for az, cidr in zip(azs, private_cidrs, strict=True)
        ]

        private_route_tables = self._create_routing(name)
        self._create_endpoints(name, private_route_tables)
        self._create_flow_logs(name)

        self.register_outputs({
            "vpc_id": self.vpc.id,
            "private_subnet_ids": [s.id for s in self.private_subnets],
            "public_subnet_ids": [s.id for s in self.public_subnets],
        })

    def _create_routing(self, name: str) -> list[aws.ec2.RouteTable]:
        azs = self._args.config.availability_zones
        igw = aws.ec2.InternetGateway(name, vpc_id=self.vpc.id, tags={"Name": name}, opts=self._child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=self.vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
                                       tags={"Name": f"{name}-public"}, opts=self._child)
        for az, subnet in zip(azs, self.public_subnets, strict=True):
            aws.ec2.RouteTableAssociation(f"{name}-public-{az}", subnet_id=subnet.id,
                                          route_table_id=public_rt.id, opts=self._child)

        nat_azs = azs if self._args.config.nat_gateways == "per_az" else azs[:1]
        nats = []
        for az, subnet in zip(nat_azs, self.public_subnets, strict=False):
            eip = aws.ec2.Eip(f"{name}-nat-{az}", domain="vpc", tags={"Name": f"{name}-nat-{az}"},
                              opts=self._child)
            nats.append(aws.ec2.NatGateway(f"{name}-{az}", allocation_id=eip.id, subnet_id=subnet.id,
                                           tags={"Name": f"{name}-{az}"}, opts=self._child))

        tables = []
        for i, (az, subnet) in enumerate(zip(azs, self.private_subnets, strict=True)):
            nat = nats[i] if len(nats) > 1 else nats[0]
            table = aws.ec2.RouteTable(f"{name}-private-{az}", vpc_id=self.vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                                       tags={"Name": f"{name}-private-{az}"}, opts=self._child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{az}", subnet_id=subnet.id,
                                          route_table_id=table.id, opts=self._child)
            tables.append(table)
        return tables

    def _create_endpoints(self, name: str, private_route_tables: list[aws.ec2.RouteTable]) -> None:
        region = self._args.region
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{region}.s3", vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in private_route_tables], tags={"Name": f"{name}-s3"}, opts=self._child)
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to interface endpoints",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443,
                      "cidr_blocks": [self._args.config.cidr], "description": "HTTPS from the VPC"}],
            egress=[],
            tags={"Name": f"{name}-endpoints"},
            opts=self._child,
        )
        for service in self._args.config.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[self.endpoint_security_group.id],
                tags={"Name": f"{name}-{service}"},
                opts=self._child,
            )

    def _create_flow_logs(self, name: str) -> None:
        a = self._args
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", retention_in_days=a.config.flow_log_retention_days,
                                        kms_key_id=a.kms_key_arn, opts=self._child)
        role = aws.iam.Role(f"{name}-flow-logs", assume_role_policy=service_trust(
            "vpc-flow-logs.amazonaws.com", a.account_id), opts=self._child)
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=document({
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [group.arn, pulumi.Output.concat(group.arn, ":*")],
            }),
            opts=self._child,
        )
        aws.ec2.FlowLog(name, vpc_id=self.vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                        log_destination=group.arn, iam_role_arn=role.arn, max_aggregation_interval=60,
                        opts=self._child)
