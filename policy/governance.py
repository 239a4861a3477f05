"""Governance: the provider is pinned to the stack's accounts and tags everything; prod state is protected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyProviderResource, PolicyResource, ResourceValidationArgs

from policy.common import (
    PROD,
    REQUIRED_TAGS,
    as_list,
    decoded,
    environment,
    provider_tags,
    resource_policy,
    stack_policy,
)

AWS_PROVIDERS = ("pulumi:providers:aws", "pulumi:providers:aws-native")
STATEFUL = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:ecr/repository:Repository")


def _pinned(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if not as_list(decoded(props.get("allowedAccountIds"))):
        yield "the AWS provider must set allowedAccountIds so it can never act on another account"


def _tagged(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    for resource in resources:
        if resource.resource_type in AWS_PROVIDERS:
            as_provider = PolicyProviderResource(resource.resource_type, resource.props, resource.urn, resource.name)
            missing = [t for t in REQUIRED_TAGS if t not in provider_tags(as_provider)]
            if missing:
                yield f"provider {resource.name} default tags lack {', '.join(missing)}", resource
        elif resource.resource_type.startswith(("aws:", "aws-native:")) and resource.provider is None:
            yield f"{resource.name} uses the default AWS provider, which is neither pinned nor tagged", resource


def _protected(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if environment(args.provider) == PROD and not args.opts.protect:
        yield f"{args.resource_type.rsplit(':', 1)[-1]} holds state; in prod it must be protected (protect: true)"


POLICIES = (
    resource_policy("aws-account-pinned", "The AWS provider is pinned to the stack's account ids", (),
                    AWS_PROVIDERS, _pinned),
    stack_policy("required-tags", "Every AWS resource carries the project, stack, environment and cost-center tags",
                 (), _tagged),
    resource_policy("prod-state-protected", "Buckets, keys and repositories are protected in prod", (), STATEFUL,
                    _protected),
)
