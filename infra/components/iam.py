"""Small helpers for IAM and resource policy documents, built as JSON outputs.

Documents are assembled with ``Output.json_dumps`` rather than the ``get_policy_document`` invoke,
so the policy pack and the tests see the final JSON in the resource's inputs.
"""

from __future__ import annotations

from typing import Any

import pulumi


def document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(service: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """A trust policy for an AWS service, limited to this account (confused-deputy protection)."""
    return document({
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    })


# The EC2 actions SageMaker needs to place a job's or endpoint's network interfaces in the VPC. They
# have no resource-level permissions, so AWS requires "*" as their resource.
SAGEMAKER_VPC_ACTIONS = (
    "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
)


def image_pull(sid: str, repository_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Pull one ECR repository's images (plus the registry login, which has no resource scoping)."""
    return [
        {"Sid": sid, "Effect": "Allow",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": repository_arn},
        {"Sid": "RegistryLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    ]


def sagemaker_vpc_placement() -> dict[str, Any]:
    return {"Sid": "VpcPlacement", "Effect": "Allow", "Resource": "*", "Action": list(SAGEMAKER_VPC_ACTIONS)}
