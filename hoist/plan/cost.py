"""Monthly cost estimate of a plan: what the stack pays for by the hour, priced from the catalog.

Every line names its price source and date. Capacity that scales is priced twice: at its
configured maximum and at its idle floor (what it costs when nothing runs). Usage-priced services
(S3 storage, requests, data transfer) are not estimated: they depend on workload, not on the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hoist.plan.recording import Plan, PlannedResource
from infra import catalog


@dataclass(frozen=True)
class CostLine:
    component: str
    subject: str
    """What a reviewer calls the line: the pool, the endpoint variant, the NAT gateways."""
    item: str
    """What is counted: an instance type, a NAT gateway, a GB-month."""
    quantity: float
    unit_price: catalog.Price
    idle_quantity: float

    @property
    def monthly_max_usd(self) -> float:
        return self.quantity * self.unit_price.monthly_usd

    @property
    def monthly_idle_usd(self) -> float:
        return self.idle_quantity * self.unit_price.monthly_usd


@dataclass(frozen=True)
class CostEstimate:
    stack: str
    lines: tuple[CostLine, ...]

    # The totals add up the lines as reported (to the cent), so a diff's per-line deltas sum to them.
    @property
    def monthly_max_usd(self) -> float:
        return round(sum(round(line.monthly_max_usd, 2) for line in self.lines), 2)

    @property
    def monthly_idle_usd(self) -> float:
        return round(sum(round(line.monthly_idle_usd, 2) for line in self.lines), 2)


Priced = tuple[str, str, float, catalog.Price, float]
"""(subject, item, quantity at maximum, unit price, quantity when idle)."""
Pricer = Callable[[PlannedResource, Plan], Iterable[Priced]]
"""Yields the priced lines of one resource of a plan."""


def _nat(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    yield "NAT gateways", "NAT gateway", 1, catalog.NAT_GATEWAY_HOUR, 1


def _eip(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    yield "public IPv4 addresses", "public IPv4 address", 1, catalog.PUBLIC_IPV4_HOUR, 1


def _endpoint(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    if r.inputs.get("vpcEndpointType") == "Interface":
        # Interface endpoints are billed per AZ they have a network interface in.
        azs = len(r.inputs.get("subnetIds") or [])
        yield "interface endpoints", "interface endpoint (per AZ)", azs, catalog.INTERFACE_ENDPOINT_AZ_HOUR, azs


def _kms(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    yield "KMS key", "KMS key", 1, catalog.KMS_KEY_MONTH, 1


def _sagemaker_variants(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    """Endpoint instances: at the autoscaling maximum and at its minimum (an endpoint never scales to zero).
    A blue/green rollout runs both fleets for its duration; that transient cost is not included."""
    scaling = {t.inputs.get("resourceId", ""): t for t in plan.of_type("aws:appautoscaling/target:Target")
               if t.inputs.get("serviceNamespace") == "sagemaker"}
    for variant in r.inputs.get("productionVariants") or []:
        if "managedInstanceScaling" in variant:
            yield from _component_instances(variant, plan, scaling)
            continue
        instance_type, count = variant["instanceType"], float(variant.get("initialInstanceCount", 1))
        target = next((t for rid, t in scaling.items() if rid.endswith(f"/variant/{variant['variantName']}")), None)
        most = float(target.inputs["maxCapacity"]) if target else count
        least = float(target.inputs["minCapacity"]) if target else count
        yield (f"SageMaker endpoint variant {variant['variantName']}", instance_type, most,
               catalog.sagemaker_hour(instance_type), least)


def _component_instances(variant: dict[str, Any], plan: Plan,
                         scaling: dict[str, PlannedResource]) -> Iterable[Priced]:
    """A shared endpoint's instances, by the model whose copies need them: each model's copies at its maximum
    and at its floor, packed onto instances by the CPU, memory and GPUs a copy reserves. Instances that managed
    scaling keeps beyond the models' floors are the endpoint's own line. After an apply a model that may idle at
    zero runs one copy until it scales in (see catalog.SCALE_IN_TO_ZERO_MINUTES); that is not a monthly cost.
    Each model's maximum is priced on instances of its own; managed scaling's maximum caps what the endpoint
    may run, so where the models' maxima add up to more, a negative line brings the total down to it."""
    instance_type = variant["instanceType"]
    managed = variant["managedInstanceScaling"]
    price = catalog.sagemaker_hour(instance_type)
    floor_total = max_total = 0.0
    for component in plan.of_type("aws-native:sagemaker:InferenceComponent"):
        name = component.inputs.get("inferenceComponentName", component.name)
        target = scaling.get(f"inference-component/{name}")
        needs = component.inputs["specification"]["computeResourceRequirements"]
        per_instance = catalog.copies_per_instance(
            instance_type, float(needs["numberOfCpuCoresRequired"]), int(needs["minMemoryRequiredInMb"]),
            int(needs.get("numberOfAcceleratorDevicesRequired", 0)))
        most = float(target.inputs["maxCapacity"]) if target else float(component.inputs["runtimeConfig"]["copyCount"])
        least = float(target.inputs["minCapacity"]) if target else most
        idle = math.ceil(least / per_instance)
        floor_total += idle
        max_total += math.ceil(most / per_instance)
        yield (f"model {name} ({least:g}-{most:g} copies, {per_instance} per instance)", instance_type,
               math.ceil(most / per_instance), price, idle)
    kept = max(0.0, float(managed["minInstanceCount"]) - floor_total)
    if kept:
        yield f"SageMaker endpoint variant {variant['variantName']} (minimum instances)", instance_type, 0, price, kept
    beyond = max_total - float(managed["maxInstanceCount"])
    if beyond > 0:
        yield (f"SageMaker endpoint variant {variant['variantName']} (capped at max_instances "
               f"{managed['maxInstanceCount']:g})", instance_type, -beyond, price, 0)


def _eks_control_plane(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    yield "EKS control plane", "EKS control plane", 1, catalog.EKS_CONTROL_PLANE_HOUR, 1


def _node_group(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    scaling = r.inputs.get("scalingConfig") or {}
    for instance_type in r.inputs.get("instanceTypes") or []:
        yield (f"EKS node group {r.name}", instance_type, float(scaling.get("maxSize", 0)),
               catalog.ec2_hour(instance_type), float(scaling.get("minSize", 0)))


def _gpu_pool(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    """A Karpenter GPU pool: at its GPU limit filled with its dearest type, and at zero when idle.
    Spot and reserved pools are priced on demand, an upper bound."""
    spec = r.inputs.get("spec") or {}
    gpus = int(str((spec.get("limits") or {}).get("nvidia.com/gpu", "0")))
    requirements = {req["key"]: req["values"] for req in spec["template"]["spec"]["requirements"]}
    capacity = requirements["karpenter.sh/capacity-type"][0]

    def full_pool_hourly(instance_type: str) -> float:
        facts = catalog.EC2_INSTANCES[instance_type]
        return gpus // facts.gpus * facts.on_demand_usd_per_hour

    dearest = max(requirements["node.kubernetes.io/instance-type"], key=full_pool_hourly)
    nodes = gpus // catalog.EC2_INSTANCES[dearest].gpus
    yield f"GPU pool {r.inputs['metadata']['name']}", f"{dearest} {capacity}", nodes, catalog.ec2_hour(dearest), 0


def _lustre(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    gib = float(r.inputs["storageCapacity"])
    throughput = int(r.inputs["perUnitStorageThroughput"])
    yield (f"FSx for Lustre {r.name}", f"GB-month at {throughput} MB/s/TiB", gib,
           catalog.FSX_LUSTRE_P2_GB_MONTH[throughput], gib)


def _ci_runner(r: PlannedResource, plan: Plan) -> Iterable[Priced]:
    """A CodeBuild-hosted runner: nothing idle (billed per build minute), and at maximum an assumed number
    of jobs a month, each running to the build timeout."""
    compute_type = r.inputs["environment"]["computeType"]
    minutes = catalog.CI_RUNNER_RUNS_PER_MONTH * int(r.inputs["buildTimeout"])
    yield (f"CI runner {r.inputs['name']}",
           f"{compute_type} build minute ({catalog.CI_RUNNER_RUNS_PER_MONTH} jobs × {r.inputs['buildTimeout']} "
           "min timeout, assumed)", minutes, catalog.CODEBUILD_BUILD_MINUTE[compute_type], 0)


PRICERS: dict[str, Pricer] = {
    "kubernetes:karpenter.sh/v1:NodePool": _gpu_pool,
    "aws:fsx/lustreFileSystem:LustreFileSystem": _lustre,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:kms/key:Key": _kms,
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _sagemaker_variants,
    "aws-native:sagemaker:EndpointConfig": _sagemaker_variants,
    "aws:eks/cluster:Cluster": _eks_control_plane,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:codebuild/project:Project": _ci_runner,
}
"""Resource type -> how to price it. Components that add paid resources add their pricer here."""


def estimate(plan: Plan) -> CostEstimate:
    """Price every resource, one line per (component, subject, item) with quantities added up."""
    totals: dict[tuple[str, str, str, catalog.Price], list[float]] = {}
    for resource in plan.resources:
        pricer = PRICERS.get(resource.type)
        if pricer is None:
            continue
        for subject, item, quantity, price, idle in pricer(resource, plan):
            total = totals.setdefault((resource.component, subject, item, price), [0.0, 0.0])
            total[0] += quantity
            total[1] += idle
    lines = tuple(
        CostLine(component=component, subject=subject, item=item, quantity=quantity, unit_price=price,
                 idle_quantity=idle)
        for (component, subject, item, price), (quantity, idle) in totals.items()
    )
    return CostEstimate(stack=plan.stack, lines=lines)

