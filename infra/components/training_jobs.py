"""TrainingJobs: what a SageMaker training job of this stack runs with — its role and its network.

The role may read the datasets bucket, read and write the checkpoints bucket (every node of a job
writes its checkpoint shards there directly, and old checkpoints are pruned), write the models bucket, pull the
training image, write its logs and use the stack's key; nothing else. The security group lets the
job's instances talk to each other and reach the VPC's endpoints and S3 (through the gateway endpoint's prefix
list) over HTTPS.
Jobs themselves are launched by `hoist train --backend sagemaker`; they are not Pulumi resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import (
    document,
    image_pull,
    sagemaker_vpc_placement,
    service_trust,
    training_data_access,
)


@dataclass(frozen=True, kw_only=True)
class TrainingJobsArgs:
    buckets: dict[str, aws.s3.Bucket]
    repository_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    s3_prefix_list_id: pulumi.Input[str]
    """The S3 gateway endpoint's prefix list: S3's addresses, reached through the endpoint, not the VPC CIDR."""
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]


class TrainingJobs(pulumi.ComponentResource):
    role: aws.iam.Role
    security_group: aws.ec2.SecurityGroup

    def __init__(self, name: str, args: TrainingJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The token was hoist:training:TrainingJobs before the component had its own module; the alias keeps
        # deployed stacks (and every child URN) from being replaced by the rename.
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="hoist:training:TrainingJobs")])
        opts = pulumi.ResourceOptions.merge(opts, renamed)
        super().__init__("hoist:training_jobs:TrainingJobs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(f"{name}-training-job",
                                 assume_role_policy=service_trust("sagemaker.amazonaws.com", args.account_id),
                                 opts=child)
        datasets = args.buckets["datasets"]
        logs = pulumi.Output.format("arn:{0}:logs:{1}:{2}:log-group:/aws/sagemaker/TrainingJobs:*", args.partition,
                                    args.region, args.account_id)
        aws.iam.RolePolicy(f"{name}-training-job", role=self.role.id, policy=document(
            *training_data_access(args.buckets, args.kms_key_arn),
            # SageMaker Processing uploads prepared shards here for the job.
            {"Sid": "WritePreparedDatasets", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
             "Resource": pulumi.Output.concat(datasets.arn, "/prepared/*")},
            *image_pull("PullTrainingImage", args.repository_arn),
            # SageMaker encrypts the job's volumes with the key through a grant.
            {"Sid": "GrantStackKey", "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": args.kms_key_arn},
            {"Sid": "WriteLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": logs},
            sagemaker_vpc_placement(),
        ), opts=child)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-training-job",
            description="SageMaker training instances: each other (NCCL, EFA) and HTTPS to the VPC's endpoints",
            vpc_id=args.vpc_id,
            ingress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                      "description": "instances of the same job"}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                     "description": "instances of the same job"},
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [args.vpc_cidr],
                     "description": "HTTPS to the VPC's interface endpoints"},
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "prefix_list_ids": [args.s3_prefix_list_id],
                     "description": "HTTPS to S3 through the gateway endpoint"}],
            opts=child,
        )
        self.register_outputs({"role_arn": self.role.arn, "security_group_id": self.security_group.id})
