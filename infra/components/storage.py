"""Storage: the stack's KMS key and its four buckets (datasets, checkpoints, models, access logs).

pulumi-aws v7 models each S3 setting as its own resource, so every bucket here is a small family:
public access block, ownership controls, encryption, versioning, lifecycle, logging and a TLS-only
policy. The policy pack checks the family as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.budget import ALERT_PUBLISHERS
from infra.components.iam import document
from infra.config import StorageConfig

DATA_BUCKETS = ("datasets", "checkpoints", "models")


@dataclass(frozen=True, kw_only=True)
class StorageArgs:
    config: StorageConfig
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]


class Storage(pulumi.ComponentResource):
    """KMS key plus encrypted, private, versioned, logged buckets."""

    key: aws.kms.Key
    buckets: dict[str, aws.s3.Bucket]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:storage:Storage", name, None, opts)
        self._args = args
        self.key = self._create_key(name)
        self.buckets = {}

        # S3 server access logs can only be delivered to a bucket encrypted with SSE-S3, not SSE-KMS
        # (S3 user guide, "Enabling Amazon S3 server access logging"), so the log bucket is the one
        # bucket without the customer-managed key.
        logs = self._create_bucket(f"{name}-access-logs", role="access-logs", kms=False)
        self._grant_log_delivery(logs, f"{name}-access-logs")
        self._lifecycle(logs, f"{name}-access-logs", expire_days=args.config.access_log_expiry_days)
        self.buckets["access-logs"] = logs

        for role in DATA_BUCKETS:
            bucket = self._create_bucket(f"{name}-{role}", role=role, kms=True)
            self._tls_only(bucket, f"{name}-{role}")
            noncurrent = args.config.checkpoint_noncurrent_days if role == "checkpoints" else None
            self._lifecycle(bucket, f"{name}-{role}", noncurrent_days=noncurrent)
            aws.s3.BucketLogging(
                f"{name}-{role}",
                bucket=bucket.id,
                target_bucket=logs.id,
                target_prefix=f"{role}/",
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.buckets[role] = bucket

        self.register_outputs({
            "key_arn": self.key.arn,
            **{f"{role}_bucket": bucket.bucket for role, bucket in self.buckets.items()},
        })

    def _create_key(self, name: str) -> aws.kms.Key:
        a = self._args
        root = pulumi.Output.concat("arn:", a.partition, ":iam::", a.account_id, ":root")
        logs_arn = pulumi.Output.concat("arn:", a.partition, ":logs:", a.region, ":", a.account_id, ":*")
        policy = document(
            {
                # Without this statement IAM policies in the account could not grant use of the key.
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{a.region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arn}},
            },
            *(
                {
                    # The alerts topic is encrypted with this key; a publisher that cannot use it delivers nothing.
                    "Sid": f"{service.split('.')[0].title()}PublishesAlerts",
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": a.account_id}},
                }
                for service in ALERT_PUBLISHERS
            ),
        )
        key = aws.kms.Key(
            name,
            description=f"hoist {pulumi.get_stack()}: buckets, registries, logs and cluster secrets",
            enable_key_rotation=True,
            deletion_window_in_days=a.config.kms_deletion_window_days,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.kms.Alias(name, name=f"alias/hoist-{pulumi.get_stack()}", target_key_id=key.key_id,
                      opts=pulumi.ResourceOptions(parent=self))
        return key

    def _create_bucket(self, name: str, *, role: str, kms: bool) -> aws.s3.Bucket:
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            name,
            force_destroy=self._args.config.force_destroy,
            tags={"hoist:bucket-role": role},
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            name, bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child,
        )
        aws.s3.BucketOwnershipControls(
            name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child,
        )
        default: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgsDict = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": self.key.arn} if kms else {"sse_algorithm": "AES256"}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            # Bucket keys cut KMS request costs by ~99% for large checkpoint and dataset traffic.
            rules=[{"apply_server_side_encryption_by_default": default, "bucket_key_enabled": kms}],
            opts=child,
        )
        aws.s3.BucketVersioning(
            name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child,
        )
        return bucket

    def _tls_only(self, bucket: aws.s3.Bucket, name: str, *extra: dict[str, object]) -> None:
        aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=document(
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                *extra,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _grant_log_delivery(self, logs: aws.s3.Bucket, name: str) -> None:
        self._tls_only(
            logs,
            name,
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(logs.arn, "/*"),
                "Condition": {"StringEquals": {"aws:SourceAccount": self._args.account_id}},
            },
        )

    def _lifecycle(self, bucket: aws.s3.Bucket, name: str, *, noncurrent_days: int | None = None,
                   expire_days: int | None = None) -> None:
        rule: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
            "id": "housekeeping",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": self._args.config.abort_incomplete_multipart_days,
            },
        }
        if noncurrent_days is not None:
            rule["noncurrent_version_expiration"] = {"noncurrent_days": noncurrent_days}
        if expire_days is not None:
            rule["expiration"] = {"days": expire_days}
            rule["noncurrent_version_expiration"] = {"noncurrent_days": 1}
        aws.s3.BucketLifecycleConfiguration(name, bucket=bucket.id, rules=[rule],
                                            opts=pulumi.ResourceOptions(parent=self))
