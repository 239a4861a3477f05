"""ECR controls: scan on push, immutable tags, KMS encryption, a lifecycle policy, replication-only grants."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.common import as_list, decoded, of_type, resource_policy, stack_policy, statements, targets

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REGISTRY_POLICY = "aws:ecr/registryPolicy:RegistryPolicy"
REPLICATION_ACTIONS = frozenset({"ecr:CreateRepository", "ecr:ReplicateImage"})


def _scan(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if (props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        yield "repository must scan images on push"


def _immutable(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if props.get("imageTagMutability") != "IMMUTABLE":
        yield f"image tags must be IMMUTABLE (is {props.get('imageTagMutability')}); images are promoted by digest"


def _kms(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    configs = as_list(props.get("encryptionConfigurations"))
    if not any(c.get("encryptionType") == "KMS" and c.get("kmsKey") for c in configs):
        yield "repository must be encrypted with the stack's KMS key"


def _lifecycle(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    covered = {urn for p in of_type(resources, LIFECYCLE) for urn in targets(p, "repository")}
    for repo in of_type(resources, REPOSITORY):
        if repo.urn not in covered:
            yield f"repository {repo.name} has no lifecycle policy; old images would accumulate", repo


def _replication_only(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    """A registry policy exists only to admit the source stack's replication: one account, two actions."""
    for statement in statements(decoded(props.get("policy"))):
        if statement.get("Effect") != "Allow":
            continue
        actions = set(as_list(statement.get("Action")))
        if not actions <= REPLICATION_ACTIONS:
            yield f"registry policy grants {sorted(actions - REPLICATION_ACTIONS)}; only replication is allowed"
        principals = as_list((statement.get("Principal") or {}).get("AWS")) if isinstance(
            statement.get("Principal"), dict) else [statement.get("Principal")]
        for principal in principals:
            if not (isinstance(principal, str) and principal.startswith("arn:") and principal.endswith(":root")):
                yield f"registry policy principal {principal!r} must be one account's root ARN, never '*'"


POLICIES = (
    resource_policy("ecr-scan-on-push", "ECR repositories scan images on push",
                    ("CKV_AWS_163", "SecurityHub:ECR.1"), (REPOSITORY,), _scan),
    resource_policy("ecr-immutable-tags", "ECR image tags are immutable", ("CKV_AWS_51", "SecurityHub:ECR.2"),
                    (REPOSITORY,), _immutable),
    resource_policy("ecr-kms", "ECR repositories are encrypted with a customer-managed KMS key", ("CKV_AWS_136",),
                    (REPOSITORY,), _kms),
    stack_policy("ecr-lifecycle", "ECR repositories have a lifecycle policy", ("SecurityHub:ECR.3",), _lifecycle),
    resource_policy("ecr-registry-replication-only",
                    "An ECR registry policy admits only the source account's replication", ("CKV_AWS_32",),
                    (REGISTRY_POLICY,), _replication_only),
)
