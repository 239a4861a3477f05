"""VPC controls: flow logs on every VPC, a default security group that allows nothing, encrypted logs.
Whether workloads can reach the services they need is `policy.reachability`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.common import as_list, of_type, resource_policy, stack_policy, targets

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _flow_logs(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    logged = {urn for f in of_type(resources, FLOW_LOG) if f.props.get("trafficType") == "ALL"
              for urn in targets(f, "vpcId")}
    for vpc in of_type(resources, VPC):
        if vpc.urn not in logged:
            yield f"VPC {vpc.name} has no flow log capturing ALL traffic", vpc


def _default_sg_closed(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    groups = {urn: g for g in of_type(resources, DEFAULT_SG) for urn in targets(g, "vpcId")}
    for vpc in of_type(resources, VPC):
        group = groups.get(vpc.urn)
        if group is None:
            yield f"VPC {vpc.name}: its default security group is not managed (and allows traffic)", vpc
        elif as_list(group.props.get("ingress")) or as_list(group.props.get("egress")):
            yield f"VPC {vpc.name}: default security group must have no ingress or egress rules", group


def _log_group_kms(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if not props.get("kmsKeyId"):
        yield "log group must be encrypted with the stack's KMS key (kmsKeyId)"


POLICIES = (
    stack_policy("vpc-flow-logs", "Every VPC has flow logs for all traffic", ("CKV2_AWS_11", "SecurityHub:EC2.6"),
                 _flow_logs),
    stack_policy("vpc-default-sg-closed", "Every VPC's default security group allows nothing",
                 ("CKV2_AWS_12", "SecurityHub:EC2.2"), _default_sg_closed),
    resource_policy("logs-kms", "CloudWatch log groups are KMS-encrypted", ("CKV_AWS_158",), (LOG_GROUP,),
                    _log_group_kms),
)
