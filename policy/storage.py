"""S3 and KMS controls. pulumi-aws v7 splits a bucket's settings into separate resources, so most S3
rules are stack policies that look at each bucket together with the resources configuring it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.common import (
    as_list,
    environment,
    of_type,
    resource_policy,
    stack_policy,
    statements,
    targets,
)

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
KMS_KEY = "aws:kms/key:Key"

Findings = Iterable[tuple[str, PolicyResource]]


def _configs(resources: list[PolicyResource], typ: str) -> dict[str, list[PolicyResource]]:
    """Bucket URN -> the resources of ``typ`` that configure it (through their ``bucket`` input)."""
    found: dict[str, list[PolicyResource]] = {}
    for resource in of_type(resources, typ):
        for urn in targets(resource, "bucket"):
            found.setdefault(urn, []).append(resource)
    return found


def _log_targets(resources: list[PolicyResource]) -> set[str]:
    return {urn for r in of_type(resources, LOGGING) for urn in targets(r, "targetBucket")}


def _public_access(resources: list[PolicyResource]) -> Findings:
    blocks = _configs(resources, PUBLIC_ACCESS_BLOCK)
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in of_type(resources, BUCKET):
        configured = blocks.get(bucket.urn, [])
        if not configured:
            yield f"bucket {bucket.name} has no public access block", bucket
        for block in configured:
            off = [f for f in flags if block.props.get(f) is not True]
            if off:
                yield f"bucket {bucket.name}: public access block leaves {', '.join(off)} off", bucket


def _kms_encryption(resources: list[PolicyResource]) -> Findings:
    encryption = _configs(resources, ENCRYPTION)
    log_targets = _log_targets(resources)
    for bucket in of_type(resources, BUCKET):
        configured = encryption.get(bucket.urn, [])
        if not configured:
            yield f"bucket {bucket.name} has no default encryption", bucket
        for config in configured:
            for rule in as_list(config.props.get("rules")):
                default = rule.get("applyServerSideEncryptionByDefault") or {}
                algorithm = default.get("sseAlgorithm")
                # S3 server access logs can only be written to SSE-S3 buckets, so a log target is
                # the one bucket allowed AES256.
                if bucket.urn in log_targets:
                    if algorithm not in ("AES256", "aws:kms"):
                        yield f"log bucket {bucket.name} is not encrypted (sseAlgorithm={algorithm})", bucket
                elif algorithm not in ("aws:kms", "aws:kms:dsse") or not default.get("kmsMasterKeyId"):
                    yield (f"bucket {bucket.name} must use SSE-KMS with a customer-managed key "
                           f"(sseAlgorithm={algorithm})"), bucket


def _denies_insecure_transport(document: Any) -> bool:
    for statement in statements(document):
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false" and (
            statement.get("Principal") == "*" and "s3:*" in as_list(statement.get("Action"))
        ):
            return True
    return False


def _tls_only(resources: list[PolicyResource]) -> Findings:
    policies = _configs(resources, BUCKET_POLICY)
    for bucket in of_type(resources, BUCKET):
        if not any(_denies_insecure_transport(p.props.get("policy")) for p in policies.get(bucket.urn, [])):
            yield f"bucket {bucket.name} has no policy denying requests without TLS (aws:SecureTransport)", bucket


def _versioning(resources: list[PolicyResource]) -> Findings:
    versioning = _configs(resources, VERSIONING)
    for bucket in of_type(resources, BUCKET):
        states = [(v.props.get("versioningConfiguration") or {}).get("status") for v in versioning.get(bucket.urn, [])]
        if "Enabled" not in states:
            yield f"bucket {bucket.name} does not have versioning enabled", bucket


def _lifecycle(resources: list[PolicyResource]) -> Findings:
    lifecycles = _configs(resources, LIFECYCLE)
    for bucket in of_type(resources, BUCKET):
        rules = [rule for config in lifecycles.get(bucket.urn, []) for rule in as_list(config.props.get("rules"))]
        aborts = [r for r in rules if r.get("status") == "Enabled" and r.get("abortIncompleteMultipartUpload")]
        if not aborts:
            yield f"bucket {bucket.name} has no enabled lifecycle rule aborting incomplete multipart uploads", bucket


def _access_logging(resources: list[PolicyResource]) -> Findings:
    logging = _configs(resources, LOGGING)
    log_targets = _log_targets(resources)
    for bucket in of_type(resources, BUCKET):
        # A log bucket logging into itself would log its own log writes forever.
        if bucket.urn not in log_targets and not logging.get(bucket.urn):
            yield f"bucket {bucket.name} has no server access logging", bucket


def _no_acls(resources: list[PolicyResource]) -> Findings:
    ownership = _configs(resources, OWNERSHIP)
    for bucket in of_type(resources, BUCKET):
        modes = [(o.props.get("rule") or {}).get("objectOwnership") for o in ownership.get(bucket.urn, [])]
        if "BucketOwnerEnforced" not in modes:
            yield f"bucket {bucket.name} must disable ACLs (object ownership BucketOwnerEnforced)", bucket
    for acl in of_type(resources, BUCKET_ACL):
        yield f"{acl.name}: bucket ACLs are not allowed; grant access with policies", acl


def _no_force_destroy(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if props.get("forceDestroy") is True and environment(args.provider) != "dev":
        yield "forceDestroy deletes every object on `pulumi destroy`; allowed only in dev stacks"


def _kms_rotation(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if props.get("enableKeyRotation") is not True:
        yield "KMS key must have automatic rotation enabled (enableKeyRotation: true)"


def _kms_no_wildcard_principal(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    for statement in statements(props.get("policy")):
        principal = statement.get("Principal")
        aws_principals = as_list(principal.get("AWS")) if isinstance(principal, Mapping) else []
        if statement.get("Effect") == "Allow" and (principal == "*" or "*" in aws_principals):
            yield f"key policy statement {statement.get('Sid', '(no Sid)')} allows any principal ('*')"


POLICIES = (
    stack_policy("s3-block-public-access", "S3 buckets block every form of public access",
                 ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV2_AWS_6", "SecurityHub:S3.8"),
                 _public_access),
    stack_policy("s3-kms-encryption", "S3 buckets are encrypted with the stack's KMS key (log targets: SSE-S3)",
                 ("CKV_AWS_145", "SecurityHub:S3.17"), _kms_encryption),
    stack_policy("s3-tls-only", "S3 bucket policies deny requests made without TLS",
                 ("SecurityHub:S3.5",), _tls_only),
    stack_policy("s3-versioning", "S3 buckets keep object versions", ("CKV_AWS_21", "SecurityHub:S3.14"), _versioning),
    stack_policy("s3-lifecycle", "S3 buckets have lifecycle rules that abort incomplete multipart uploads",
                 ("CKV2_AWS_61", "CKV_AWS_300", "SecurityHub:S3.13"), _lifecycle),
    stack_policy("s3-access-logging", "S3 buckets log access to the stack's log bucket",
                 ("CKV_AWS_18", "SecurityHub:S3.9"), _access_logging),
    stack_policy("s3-no-acls", "S3 buckets disable ACLs (BucketOwnerEnforced)",
                 ("CKV2_AWS_65", "SecurityHub:S3.12"), _no_acls),
    resource_policy("s3-no-force-destroy", "Only dev buckets may be force-destroyed", (), (BUCKET,),
                    _no_force_destroy),
    resource_policy("kms-key-rotation", "KMS keys rotate automatically", ("CKV_AWS_7", "SecurityHub:KMS.4"),
                    (KMS_KEY,), _kms_rotation),
    resource_policy("kms-no-wildcard-principal", "KMS key policies never allow any principal",
                    ("CKV_AWS_33",), (KMS_KEY,), _kms_no_wildcard_principal),
)
