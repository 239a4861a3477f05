"""VPC controls: flow logs on every VPC, a default security group that allows nothing, encrypted logs,
and SageMaker workloads able to reach S3 through the gateway endpoint."""

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


SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
MODEL = "aws:sagemaker/model:Model"
# Components whose security groups belong to SageMaker jobs (training and processing share one).
SAGEMAKER_JOB_COMPONENTS = ("hoist:training_jobs:TrainingJobs",)


def _sagemaker_groups(resources: list[PolicyResource]) -> list[PolicyResource]:
    used = {urn for m in of_type(resources, MODEL) for urn in targets(m, "vpcConfig")}
    return [g for g in of_type(resources, SECURITY_GROUP)
            if g.urn in used or any(f"{c}$" in g.urn for c in SAGEMAKER_JOB_COMPONENTS)]


def _https_rule(rule: Mapping[str, Any]) -> bool:
    return rule.get("protocol") in ("-1", "tcp") and (
        rule.get("protocol") == "-1" or rule.get("fromPort", 0) <= 443 <= rule.get("toPort", 0))


def _sagemaker_s3_egress(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    gateways = {e.urn for e in of_type(resources, VPC_ENDPOINT) if e.props.get("vpcEndpointType") == "Gateway"
                and str(e.props.get("serviceName", "")).endswith(".s3")}
    for group in _sagemaker_groups(resources):
        through_prefix_list = any(_https_rule(r) and "prefixListIds" in r for r in as_list(group.props.get("egress")))
        if not (through_prefix_list and gateways & targets(group, "egress")):
            yield (f"security group {group.name}: SageMaker reaches S3 (model data, datasets, checkpoints) through "
                   "the S3 gateway endpoint; allow HTTPS egress to its prefix list (prefixListIds)"), group


POLICIES = (
    stack_policy("vpc-flow-logs", "Every VPC has flow logs for all traffic", ("CKV2_AWS_11", "SecurityHub:EC2.6"),
                 _flow_logs),
    stack_policy("vpc-default-sg-closed", "Every VPC's default security group allows nothing",
                 ("CKV2_AWS_12", "SecurityHub:EC2.2"), _default_sg_closed),
    stack_policy("sagemaker-s3-egress", "SageMaker workloads' security groups allow HTTPS to the S3 gateway "
                 "endpoint's prefix list", (), _sagemaker_s3_egress),
    resource_policy("logs-kms", "CloudWatch log groups are KMS-encrypted", ("CKV_AWS_158",), (LOG_GROUP,),
                    _log_group_kms),
)
