"""Where each GPU pool's nodes may land, read from the planned Karpenter objects: the reviewer's view of
an EFA pool's placement (one AZ, one subnet, reserved capacity) next to every other pool's spread."""

from __future__ import annotations

from dataclasses import dataclass

from hoist.plan.recording import Plan

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


@dataclass(frozen=True)
class Placement:
    pool: str
    efa: bool
    zones: tuple[str, ...]
    subnets: int
    capacity: str
    reservations: int
    locked_memory: bool
    """Whether the nodes' user data lifts containerd's locked-memory limit (EFA pools)."""


def placements(plan: Plan) -> list[Placement]:
    classes = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.of_type(NODE_CLASS)}
    found = []
    for pool in plan.of_type(NODE_POOL):
        name = pool.inputs["metadata"]["name"]
        template = pool.inputs["spec"]["template"]
        requirements = {req["key"]: req["values"] for req in template["spec"]["requirements"]}
        node_class = classes.get(name, {})
        found.append(Placement(
            pool=name, efa=template["metadata"]["labels"].get("hoist.dev/efa") == "true",
            zones=tuple(requirements.get("topology.kubernetes.io/zone", ())),
            subnets=len(node_class.get("subnetSelectorTerms", ())),
            capacity=requirements["karpenter.sh/capacity-type"][0],
            reservations=len(node_class.get("capacityReservationSelectorTerms", ())),
            locked_memory="LimitMEMLOCK=infinity" in str(node_class.get("userData", ""))))
    return found


def describe(p: Placement) -> str:
    where = f"{len(p.zones)} AZ ({', '.join(p.zones)}), {p.subnets} subnet(s)"
    reserved = f", {p.reservations} capacity reservation(s)" if p.reservations else ""
    fabric = ", EFA, unlimited locked memory" if p.efa and p.locked_memory else (", EFA" if p.efa else "")
    return f"{p.pool}: {p.capacity}{reserved}, {where}{fabric}"
