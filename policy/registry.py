"""ECR controls: scan on push, immutable tags, KMS encryption, a lifecycle policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.common import as_list, of_type, resource_policy, stack_policy, targets

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"


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


POLICIES = (
    resource_policy("ecr-scan-on-push", "ECR repositories scan images on push",
                    ("CKV_AWS_163", "SecurityHub:ECR.1"), (REPOSITORY,), _scan),
    resource_policy("ecr-immutable-tags", "ECR image tags are immutable", ("CKV_AWS_51", "SecurityHub:ECR.2"),
                    (REPOSITORY,), _immutable),
    resource_policy("ecr-kms", "ECR repositories are encrypted with a customer-managed KMS key", ("CKV_AWS_136",),
                    (REPOSITORY,), _kms),
    stack_policy("ecr-lifecycle", "ECR repositories have a lifecycle policy", ("SecurityHub:ECR.3",), _lifecycle),
)
