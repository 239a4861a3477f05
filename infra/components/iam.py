"""Small helpers for IAM and resource policy documents, built as JSON outputs.

Documents are assembled with ``Output.json_dumps`` rather than the ``get_policy_document`` invoke,
so the policy pack and the tests see the final JSON in the resource's inputs.
"""

from __future__ import annotations

from typing import Any

import pulumi

BASE_MODEL_PREFIX = "base/"
"""Where base checkpoints to fine-tune live in the models bucket; training roles may read only this part."""


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


def pod_identity_trust(account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """Trust for a role assumed by Pod Identity: the EKS pods service, from this account only."""
    return document({
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
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


def training_data_access(buckets: dict[str, Any], kms_key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """What a trainer needs of the stack's data: read datasets, read and write checkpoints (old ones
    are pruned), write models, read base checkpoints, and use the stack's key for all of them."""
    datasets, checkpoints, models = (buckets[r] for r in ("datasets", "checkpoints", "models"))
    return [
        {"Sid": "ReadDatasets", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [datasets.arn, pulumi.Output.concat(datasets.arn, "/*")]},
        {"Sid": "ReadWriteCheckpoints", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:AbortMultipartUpload"],
         "Resource": [checkpoints.arn, pulumi.Output.concat(checkpoints.arn, "/*")]},
        {"Sid": "WriteModels", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": pulumi.Output.concat(models.arn, "/*")},
        # Base checkpoints to fine-tune (a SageMaker input channel, or read by the trainer on EKS).
        {"Sid": "ReadBaseModels", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": pulumi.Output.concat(models.arn, f"/{BASE_MODEL_PREFIX}*")},
        {"Sid": "ListBaseModels", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": models.arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{BASE_MODEL_PREFIX}*"]}}},
        {"Sid": "UseStackKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": kms_key_arn},
    ]
