"""TrainingAccess: the AWS side of what training pods use — their Pod Identity role (the data buckets
and key, nothing else) and, where the stack sets ``cluster.fsx``, FSx for Lustre linked to the
datasets bucket, its security group and data repository association.

These were children of the in-cluster component before the stack split into two projects (see
``infra/contract.py``); the aliases keep their URNs, so no deployed role or file system is replaced.
The Kubernetes objects that use them (service account, PV/PVC) are the in-cluster side's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import document, pod_identity_trust, training_data_access
from infra.config import FsxConfig
from infra.kube.training_runtime import SERVICE_ACCOUNT

LUSTRE_PORTS = ((988, 988), (1018, 1023))
OLD_TYPES = ("hoist:in_cluster:InCluster", "hoist:cluster:InCluster")
"""The type tokens this component's resources were created under, newest first."""


@dataclass(frozen=True, kw_only=True)
class TrainingAccessArgs:
    cluster_name: pulumi.Input[str]
    namespace: str
    buckets: dict[str, aws.s3.Bucket]
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    fsx: FsxConfig | None
    fsx_subnet_id: pulumi.Input[str]
    private_subnet_cidrs: list[str]


class TrainingAccess(pulumi.ComponentResource):
    training_role: aws.iam.Role
    fsx: aws.fsx.LustreFileSystem | None

    def __init__(self, name: str, args: TrainingAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=old) for old in OLD_TYPES])
        super().__init__("hoist:cluster:TrainingAccess", name, None, pulumi.ResourceOptions.merge(opts, renamed))
        # Moving a stack made before the split (README, "Moving a stack made before the split") hands these
        # back to this project under the root stack; the second alias finds them there.
        child = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        self.training_role = aws.iam.Role(f"{name}-trainer", assume_role_policy=pod_identity_trust(args.account_id),
                                          opts=child)
        aws.iam.RolePolicy(f"{name}-trainer", role=self.training_role.id,
                           policy=document(*training_data_access(args.buckets, args.kms_key_arn)), opts=child)
        aws.eks.PodIdentityAssociation(f"{name}-trainer", cluster_name=args.cluster_name, namespace=args.namespace,
                                       service_account=SERVICE_ACCOUNT, role_arn=self.training_role.arn, opts=child)
        self.fsx = self._fsx(name, args, args.fsx, child) if args.fsx else None
        self.register_outputs({"training_role": self.training_role.arn})

    def _fsx(self, name: str, args: TrainingAccessArgs, fsx: FsxConfig,
             child: pulumi.ResourceOptions) -> aws.fsx.LustreFileSystem:
        ingress: list[aws.ec2.SecurityGroupIngressArgsDict] = [
            {"protocol": "tcp", "from_port": low, "to_port": high, "cidr_blocks": args.private_subnet_cidrs,
             "description": "Lustre from the private subnets"} for low, high in LUSTRE_PORTS]
        ingress += [{"protocol": "tcp", "from_port": low, "to_port": high, "self": True,
                     "description": "Lustre servers to each other"} for low, high in LUSTRE_PORTS]
        group = aws.ec2.SecurityGroup(
            f"{name}-fsx", description="FSx for Lustre: the Lustre ports from the private subnets only",
            vpc_id=args.vpc_id, ingress=ingress,
            egress=[{"protocol": "tcp", "from_port": low, "to_port": high, "cidr_blocks": args.private_subnet_cidrs,
                     "description": "Lustre to the private subnets"} for low, high in LUSTRE_PORTS],
            opts=child)
        filesystem = aws.fsx.LustreFileSystem(
            f"{name}-fsx", deployment_type="PERSISTENT_2", storage_capacity=fsx.storage_gib,
            per_unit_storage_throughput=fsx.throughput_mb_s_per_tib, subnet_ids=args.fsx_subnet_id,
            security_group_ids=[group.id], kms_key_id=args.kms_key_arn, data_compression_type="LZ4",
            file_system_type_version="2.15", opts=child)
        datasets = args.buckets["datasets"]
        aws.fsx.DataRepositoryAssociation(
            f"{name}-fsx-datasets", file_system_id=filesystem.id, file_system_path="/datasets",
            data_repository_path=pulumi.Output.format("s3://{0}/{1}", datasets.bucket, fsx.import_prefix),
            batch_import_meta_data_on_create=True,
            # Datasets flow in from S3 only; nothing written on Lustre is exported back.
            s3={"auto_import_policy": {"events": ["NEW", "CHANGED", "DELETED"]}}, opts=child)
        return filesystem
