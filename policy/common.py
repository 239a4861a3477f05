"""Shared building blocks for hoist's policies.

Each policy is written as a small check function; ``resource_policy`` and ``stack_policy`` wrap it
in pulumi-policy's types and attach the public control IDs (checkov ``CKV_AWS_*``, AWS Security
Hub) it implements. Unknown values during preview raise pulumi-policy's UnknownValueError, which
the policy runtime (and hoist's plan) reports as "not applicable", never as a violation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PROD = "prod"
ENVIRONMENT_TAG = "hoist:environment"
REQUIRED_TAGS = ("hoist:project", "hoist:stack", "hoist:environment", "cost-center")

ResourceCheck = Callable[[Mapping[str, Any], ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[list[PolicyResource]], Iterable[tuple[str, PolicyResource]]]


def _describe(description: str, controls: tuple[str, ...]) -> str:
    return f"{description} [{', '.join(controls)}]" if controls else description


def resource_policy(name: str, description: str, controls: tuple[str, ...], types: tuple[str, ...],
                    check: ResourceCheck) -> ResourceValidationPolicy:
    """A policy run on each resource of ``types``; ``check`` yields one message per violation."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        for message in check(args.props, args):
            report(message, None)

    return ResourceValidationPolicy(name=name, description=_describe(description, controls), validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, tags=list(controls))


def stack_policy(name: str, description: str, controls: tuple[str, ...],
                 check: StackCheck) -> StackValidationPolicy:
    """A policy over the whole stack, for rules that span several resources."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message, resource in check(list(args.resources)):
            report(message, resource.urn)

    return StackValidationPolicy(name=name, description=_describe(description, controls), validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY, tags=list(controls))


def decoded(value: Any) -> Any:
    """Provider settings and policy documents may arrive as JSON text; decode them."""
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    return value


def provider_tags(provider: PolicyProviderResource | None) -> dict[str, str]:
    if provider is None:
        return {}
    default_tags = decoded(provider.props.get("defaultTags")) or {}
    return dict(decoded(default_tags.get("tags")) or {})


def environment(provider: PolicyProviderResource | None) -> str | None:
    return provider_tags(provider).get(ENVIRONMENT_TAG)


def of_type(resources: list[PolicyResource], typ: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == typ]


def targets(resource: PolicyResource, prop: str) -> set[str]:
    """URNs of the resources that ``resource``'s ``prop`` input was computed from."""
    return {dep.urn for dep in resource.property_dependencies.get(prop, [])}


def statements(document: Any) -> list[Mapping[str, Any]]:
    doc = decoded(document) or {}
    found = doc.get("Statement", [])
    return [found] if isinstance(found, Mapping) else as_list(found)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    # pulumi-policy wraps lists in a Sequence proxy, not a list.
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
