"""Run the policy pack against a recorded plan, through pulumi-policy's own types.

Each resource is handed to the policies as the CrossGuard analyzer would: inputs behind
pulumi-policy's unknown-checking proxy, resource options, provider and property dependencies. An
unknown value (preview) makes a policy "not applicable" for that resource, as in `pulumi preview`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from hoist.plan.recording import Plan, PlannedResource
from infra.config import StackConfig
from policy import ml
from policy.pack import POLICIES

Policy = ResourceValidationPolicy | StackValidationPolicy


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str


@dataclass
class PolicyReport:
    policies: list[str]
    violations: list[Violation] = field(default_factory=list)
    not_applicable: dict[str, int] = field(default_factory=dict)
    """Policy name -> resources (or stacks) it could not judge because a value was unknown."""

    @property
    def passed(self) -> bool:
        return not self.violations

    def tripped(self) -> set[str]:
        return {v.policy for v in self.violations}


def _with_unknown_sentinels(value: Any) -> Any:
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: _with_unknown_sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_unknown_sentinels(v) for v in value]
    return value


def _provider_urn(reference: str) -> str:
    """A provider reference is ``<urn>::<id>``; the URN itself contains '::'."""
    return reference.rsplit("::", 1)[0] if reference else ""


class _Resources:
    """PolicyResource views of a plan's resources, linked by URN."""

    def __init__(self, plan: Plan) -> None:
        self.planned = {r.urn: r for r in plan.resources}
        self.views: dict[str, PolicyResource] = {}
        for resource in plan.resources:
            self.views[resource.urn] = PolicyResource(
                resource_type=resource.type,
                props=self.props(resource),
                urn=resource.urn,
                name=resource.name,
                opts=self.options(resource),
                provider=self.provider(resource),
                parent=None,
                dependencies=[],
                property_dependencies={},
            )
        for resource in plan.resources:
            view = self.views[resource.urn]
            view.parent = self.views.get(resource.parent)
            view.dependencies = [self.views[u] for u in resource.dependencies if u in self.views]
            view.property_dependencies = {
                key: [self.views[u] for u in urns if u in self.views]
                for key, urns in resource.property_dependencies.items()
            }

    @staticmethod
    def props(resource: PlannedResource) -> Any:
        return unknown_checking_proxy(_with_unknown_sentinels(resource.inputs))

    @staticmethod
    def options(resource: PlannedResource) -> PolicyResourceOptions:
        return PolicyResourceOptions(
            protect=resource.protect, ignore_changes=list(resource.ignore_changes), delete_before_replace=None,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=resource.parent,
        )

    def provider(self, resource: PlannedResource) -> PolicyProviderResource | None:
        planned = self.planned.get(_provider_urn(resource.provider))
        if planned is None:
            return None
        return PolicyProviderResource(planned.type, self.props(planned), planned.urn, planned.name)


def resource_views(plan: Plan) -> list[PolicyResource]:
    """The plan's resources as a stack policy sees them."""
    return list(_Resources(plan).views.values())


def pack_config(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """The pack's per-policy configuration for a stack: what `pulumi preview --policy-pack-config` gets."""
    return ml.pack_config(list(cfg.cluster.allowed_gpu_instance_types), cfg.cluster.allow_on_demand_gpus)


def evaluate(plan: Plan, policies: tuple[Policy, ...] = POLICIES,
             config: dict[str, dict[str, Any]] | None = None) -> PolicyReport:
    """Run ``policies`` over ``plan`` with ``config`` (default: the plan's stack's pack configuration)."""
    resources = _Resources(plan)
    report = PolicyReport(policies=[p.name for p in policies])
    config = pack_config(plan.config) if config is None else config

    for policy in policies:
        def record(message: str, urn: str | None = None, *, _policy: str = policy.name, _urn: str = "") -> None:
            report.violations.append(Violation(_policy, urn or _urn, message))

        if isinstance(policy, StackValidationPolicy):
            try:
                policy.validate(StackValidationArgs(list(resources.views.values()), config.get(policy.name, {})),
                                record)
            except UnknownValueError:
                report.not_applicable[policy.name] = report.not_applicable.get(policy.name, 0) + 1
            continue
        for resource in plan.resources:
            view = resources.views[resource.urn]
            args = ResourceValidationArgs(resource.type, view.props, resource.urn, resource.name, view.opts,
                                          view.provider, config.get(policy.name, {}), {})

            def record_resource(message: str, urn: str | None = None, *, _p: str = policy.name,
                                _u: str = resource.urn) -> None:
                report.violations.append(Violation(_p, urn or _u, message))

            try:
                policy.validate(args, record_resource)
            except UnknownValueError:
                report.not_applicable[policy.name] = report.not_applicable.get(policy.name, 0) + 1
    return report
