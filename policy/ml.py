"""ML capacity rules on Karpenter's GPU pools: which GPU types a stack may launch, a GPU limit on every
pool, EFA pools in one AZ, and spot-only GPUs in dev unless the stack allows more.

The stack-specific settings come from the pack's configuration (`hoist plan` passes them from the
stack file; CI passes the file `hoist policy-config --stack S` writes). Without configuration the
strictest reading applies: any catalog GPU type, and spot-only in dev.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra import catalog
from policy.common import as_list, decoded, environment

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
GPU = "nvidia.com/gpu"
EFA_LABEL = "hoist.dev/efa"
AWS_PROVIDER = "pulumi:providers:aws"
GPU_TYPES = sorted(t for t, facts in catalog.EC2_INSTANCES.items() if facts.gpus)


def _requirements(props: Mapping[str, Any]) -> dict[str, tuple[str, list[str]]]:
    spec = decoded(props.get("spec")) or {}
    template = (spec.get("template") or {}).get("spec") or {}
    return {req.get("key"): (req.get("operator"), [str(v) for v in as_list(req.get("values"))])
            for req in as_list(template.get("requirements"))}


def _pool_name(props: Mapping[str, Any]) -> str:
    return str((props.get("metadata") or {}).get("name", "?"))


PoolCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[str]]
"""(a NodePool's inputs, the policy's configuration) -> one message per violation."""


def _allowed_types(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    allowed = [str(t) for t in as_list(config.get("allowedInstanceTypes"))] or GPU_TYPES
    operator, values = _requirements(props).get("node.kubernetes.io/instance-type", (None, []))
    if operator != "In" or not values:
        yield f"GPU pool {_pool_name(props)} must name its instance types (node.kubernetes.io/instance-type In [...])"
        return
    outside = sorted(set(values) - set(allowed))
    if outside:
        yield (f"GPU pool {_pool_name(props)} may not launch {', '.join(outside)}; "
               f"this stack allows {', '.join(allowed)}")


def _gpu_limit(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    limits = (decoded(props.get("spec")) or {}).get("limits") or {}
    try:
        gpus = int(str(limits.get(GPU, "0")))
    except ValueError:
        gpus = 0
    if gpus < 1:
        yield f"GPU pool {_pool_name(props)} needs a limit on {GPU} (spec.limits), or it can grow without bound"


def _efa_single_az(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    spec = decoded(props.get("spec")) or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if labels.get(EFA_LABEL) != "true":
        return
    operator, zones = _requirements(props).get("topology.kubernetes.io/zone", (None, []))
    if operator != "In" or len(zones) != 1:
        yield f"EFA pool {_pool_name(props)} must stay in one AZ (topology.kubernetes.io/zone In [one zone])"


def _pool_policy(name: str, description: str, check: PoolCheck,
                 schema: PolicyConfigSchema | None = None) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type == NODE_POOL:
            for message in check(args.props, args.get_config()):
                report(message, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)


def _stack_environment(resources: list[PolicyResource]) -> str | None:
    """The environment tag of the stack's AWS provider (Kubernetes resources carry no AWS tags)."""
    for resource in resources:
        if resource.resource_type == AWS_PROVIDER:
            return environment(PolicyProviderResource(resource.resource_type, resource.props, resource.urn,
                                                      resource.name))
    return None


def _dev_spot_only(args: StackValidationArgs, report: ReportViolation) -> None:
    if _stack_environment(list(args.resources)) != "dev" or args.get_config().get("allowOnDemandGpus") is True:
        return
    for resource in args.resources:
        if resource.resource_type != NODE_POOL:
            continue
        operator, capacity = _requirements(resource.props).get("karpenter.sh/capacity-type", (None, []))
        if operator != "In" or capacity != ["spot"]:
            report(f"dev buys GPUs as spot; pool {_pool_name(resource.props)} asks for "
                   f"{', '.join(capacity) or 'any capacity'} (set cluster.allow_on_demand_gpus to allow it)",
                   resource.urn)


POLICIES = (
    _pool_policy("gpu-instance-types-allowed", "GPU pools launch only the GPU types the stack allows",
                 _allowed_types, PolicyConfigSchema(properties={"allowedInstanceTypes": {
                     "type": "array", "items": {"type": "string", "enum": GPU_TYPES}}})),
    _pool_policy("gpu-pool-limit", "Every GPU pool has a limit on its GPUs", _gpu_limit),
    _pool_policy("efa-pool-single-az", "EFA pools stay in one availability zone", _efa_single_az),
    StackValidationPolicy(name="dev-gpu-spot-only", description="Dev buys GPU capacity as spot unless configured",
                          validate=_dev_spot_only, enforcement_level=EnforcementLevel.MANDATORY,
                          config_schema=PolicyConfigSchema(properties={"allowOnDemandGpus": {"type": "boolean"}})),
)


def pack_config(allowed_instance_types: list[str], allow_on_demand_gpus: bool) -> dict[str, dict[str, Any]]:
    """The pack's configuration for one stack, keyed by policy name (what `--policy-pack-config` reads)."""
    return {
        "gpu-instance-types-allowed": {"allowedInstanceTypes": allowed_instance_types or GPU_TYPES},
        "dev-gpu-spot-only": {"allowOnDemandGpus": allow_on_demand_gpus},
    }
