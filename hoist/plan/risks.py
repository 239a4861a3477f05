"""What a change does that its inputs do not say: the data a replacement or removal destroys, the GPU
nodes Karpenter drains, the endpoint rollouts and outages. These go at the top of a pull request's
comment, each with what it means.

- Data: the data-holding types and what each loses are in ``replacements.CREATE_ONLY``.
- GPU drains: Karpenter treats a node whose NodePool template or EC2NodeClass changed as *drifted*
  and replaces it (karpenter.sh v1 "Disruption", Drift): every field counts except the NodePool's
  behavioural fields (``weight``, ``limits``, ``disruption``), requirements that still admit the node,
  and selector terms that still select its subnet, security group or reservation. Drift respects the
  pool's disruption budgets and pods annotated ``karpenter.sh/do-not-disrupt``, which hoist's
  training runtime puts on every TrainJob pod; a deleted NodePool terminates its nodes.
- Endpoints: a new endpoint configuration is rolled out blue/green by SageMaker with the endpoint's
  deployment configuration; replacing or deleting the endpoint takes it out of service.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from hoist.plan import replacements
from hoist.plan.changes import Change, Resource
from hoist.plan.leaves import Leaf, leaf_changes, under

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
ENDPOINT = "aws-native:sagemaker:Endpoint"
BEHAVIOURAL = ("spec.weight", "spec.limits", "spec.disruption")
RESOLVED_SELECTORS = ("spec.subnetSelectorTerms", "spec.securityGroupSelectorTerms",
                      "spec.capacityReservationSelectorTerms")
SEVERITY_ORDER = ("caution", "warning", "note")


@dataclass(frozen=True)
class Risk:
    kind: str
    """``data-loss``, ``gpu-drain``, ``endpoint-rollout`` or ``endpoint-outage``."""
    severity: str
    """``caution`` (data is lost), ``warning`` (work or traffic is interrupted) or ``note``."""
    urn: str
    title: str
    meaning: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else f'"{value}"'


def _leaf_text(leaves: list[Leaf], limit: int = 3) -> str:
    text = ", ".join(f"`{leaf.path}` {_shown(leaf.before)} → {_shown(leaf.after)}" for leaf in leaves[:limit])
    return text + (f" and {len(leaves) - limit} more" if len(leaves) > limit else "")


def _why(change: Change) -> str:
    if change.action == "delete":
        return "It is no longer in the program."
    reasons = "; ".join(f"`{r.path}` changes ({r.because})" for r in change.reasons)
    return f"{reasons[0].upper()}{reasons[1:]}." if reasons else ""


def _data_loss(change: Change) -> Risk | None:
    loss = replacements.holds_data(change.type)
    if loss is None or change.action not in ("replace", "delete"):
        return None
    before = change.before or {}
    replace = change.action == "replace"
    if before.get("retain_on_delete"):
        fate = ("Pulumi creates a new, empty one; this stack retains the old one on delete, so it stays in the "
                "account with its contents, outside the stack, and nothing in the stack uses it any more."
                if replace else "This stack retains it on delete: it stays in the account with its contents, "
                                "outside the stack.")
    else:
        fate = f"{'Pulumi creates a new, empty one and deletes this one.' if replace else 'Pulumi deletes it.'} {loss}"
    parts = [_why(change), fate]
    if before.get("protect"):
        parts.append(f"This stack protects it: `pulumi up` stops with an error rather than "
                     f"{'replace' if replace else 'delete'} it, until `protect` is lifted in a change of its own.")
    return Risk("data-loss", "caution", change.urn, f"{'Replaces' if replace else 'Deletes'} "
                f"{replacements.label(change.type)} `{change.name}`, which holds data",
                " ".join(p for p in parts if p))


def _requirements(spec: dict[str, Any]) -> dict[str, tuple[str, frozenset[str]]]:
    template = (spec.get("template") or {}).get("spec") or {}
    return {r["key"]: (r.get("operator", "In"), frozenset(r.get("values") or [])) for r in
            template.get("requirements") or []}


def node_pool_drift(before: dict[str, Any], after: dict[str, Any]) -> list[Leaf]:
    """The NodePool changes that drift its nodes (empty when every node still matches)."""
    leaves = [leaf for leaf in leaf_changes(before, after, "spec")
              if not leaf.path.startswith(BEHAVIOURAL) and not leaf.path.startswith("spec.template.spec.requirements")]
    if not isinstance(before, dict) or not isinstance(after, dict):
        return leaves
    old, new = _requirements(before), _requirements(after)
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        # A node still satisfies requirements that only admit more values; anything else may exclude it.
        widened = was is not None and now is not None and was[0] == now[0] == "In" and was[1] <= now[1]
        if was != now and not widened:
            leaves.append(Leaf(f"spec.template.spec.requirements[{key}]", sorted(was[1]) if was else None,
                               sorted(now[1]) if now else None))
    return leaves


def node_class_drift(before: Any, after: Any) -> list[Leaf]:
    """The EC2NodeClass changes that drift its nodes: every field, except selector terms that still
    select what the nodes were launched with."""
    leaves = leaf_changes(before, after, "spec")
    kept = []
    for leaf in leaves:
        selector = next((s for s in RESOLVED_SELECTORS if leaf.path.startswith(s)), None)
        if selector is not None and isinstance(before, dict) and isinstance(after, dict):
            key = selector.split(".", 1)[1]
            was = {json.dumps(t, sort_keys=True) for t in before.get(key) or []}
            now = {json.dumps(t, sort_keys=True) for t in after.get(key) or []}
            if was <= now:
                continue
        kept.append(leaf)
    return kept


def _pools_of_class(class_name: str, plans: list[dict[str, Resource]]) -> list[Resource]:
    for plan in plans:
        pools = sorted((r for r in plan.values() if r["type"] == NODE_POOL and
                        r["inputs"]["spec"]["template"]["spec"]["nodeClassRef"]["name"] == class_name),
                       key=lambda r: str(r["urn"]))
        if pools:
            return pools
    return []


def _budget(pool: Resource) -> str:
    budgets = ((pool["inputs"].get("spec") or {}).get("disruption") or {}).get("budgets") or [{"nodes": "10%"}]
    limits = " and ".join(str(b.get("nodes")) for b in budgets)
    return f"at most {limits} of the pool's nodes at a time (its disruption budget)"


_DRIFT = ("Karpenter treats these nodes as drifted and replaces them {budget}, starting each replacement "
          "before draining the old node.")
_TERMINATED = ("Karpenter deletes these nodes with their NodePool, outside its disruption budget, and launches "
               "no replacements for it.")
_PODS = (" A node running a pod annotated `karpenter.sh/do-not-disrupt` (hoist's training runtime puts it on every "
         "TrainJob pod) is left until that pod finishes; every other pod on it is evicted, so training started "
         "without the annotation restarts from its last checkpoint.")


def _pool_change(change: Change) -> tuple[str, bool] | None:
    """Why a NodePool or EC2NodeClass change disrupts the pool's nodes, and whether they are terminated
    rather than replaced; None when it leaves them alone."""
    kind = "NodePool" if change.type == NODE_POOL else "EC2NodeClass"
    own = change.resource["inputs"]["metadata"]["name"]
    if change.action == "delete":
        return f"its {kind} `{own}` is deleted", True
    if change.action == "replace":
        return f"its {kind} is replaced by one named `{own}`, and the old one deleted", True
    before, after = (change.before or {})["inputs"].get("spec"), change.resource["inputs"].get("spec")
    drift = node_pool_drift(before, after) if change.type == NODE_POOL else node_class_drift(before, after)
    if change.caused_by and not drift:
        drift = under(change.leaves, "spec")
    return (f"its {kind} `{own}` changes {_leaf_text(drift)}", False) if drift else None


def _drains(changes: list[Change], old: dict[str, Resource], new: dict[str, Resource]) -> list[Risk]:
    found: dict[str, tuple[Resource, list[str], bool]] = {}
    for change in changes:
        if change.type not in (NODE_POOL, NODE_CLASS) or change.action == "create":
            continue
        disruption = _pool_change(change)
        if disruption is None:
            continue
        reason, terminated = disruption
        own = change.resource["inputs"]["metadata"]["name"]
        affected = [change.resource] if change.type == NODE_POOL else _pools_of_class(own, [new, old])
        for pool in affected:
            name = pool["inputs"]["metadata"]["name"]
            _, reasons, ends = found.setdefault(name, (new.get(pool["urn"], pool), [], False))
            found[name] = (found[name][0], [*reasons, reason], ends or terminated)
    risks = []
    for name, (pool, reasons, terminated) in found.items():
        what = _TERMINATED if terminated else _DRIFT.format(budget=_budget(pool))
        meaning = f"Every GPU node this pool launched goes: {'; '.join(reasons)}. {what}{_PODS}"
        risks.append(Risk("gpu-drain", "warning", pool["urn"], f"Drains GPU pool `{name}`", meaning))
    return risks


def _cause_chain(change: Change, by_urn: dict[str, Change], depth: int = 3) -> str:
    """Why a resource changes, following what it is computed from: "model `m` is replaced: ..."."""
    parts = []
    current: Change | None = change
    for _ in range(depth):
        if current is None or not current.caused_by:
            break
        key, source = sorted(current.caused_by.items())[0]
        upstream = by_urn.get(source)
        if upstream is None:
            break
        direct = [leaf for leaf in upstream.leaves if leaf.path not in upstream.caused_by]
        detail = f": {_leaf_text(direct, 2)}" if direct else ""
        parts.append(f"`{key}` comes from `{upstream.name}`, which is replaced{detail}")
        current = upstream
    return "; ".join(parts)


def _rollout(endpoint: Resource) -> str:
    config = endpoint["inputs"].get("deploymentConfig") or {}
    policy = config.get("blueGreenUpdatePolicy") or {}
    routing = policy.get("trafficRoutingConfiguration") or {}
    kind = routing.get("type", "ALL_AT_ONCE")
    step = (routing.get("canarySize") or routing.get("linearStepSize") or {}).get("value")
    wait = routing.get("waitIntervalInSeconds")
    shift = {"CANARY": f"sends {step}% of traffic to it first, waits {wait} s, then the rest",
             "LINEAR": f"shifts traffic to it {step}% at a time, {wait} s apart"}.get(
        kind, "shifts all traffic to it at once")
    alarms = [a.get("alarmName") for a in (config.get("autoRollbackConfiguration") or {}).get("alarms") or []]
    rollback = f" and rolls back if {' or '.join(f'`{a}`' for a in alarms)} fires" if alarms else ""
    return (f"SageMaker starts a new fleet beside the serving one (blue/green), {shift}, keeps the old fleet "
            f"{policy.get('terminationWaitInSeconds', 0)} s after the last step{rollback}. Both fleets run, and "
            "are billed, while it rolls out.")


def _endpoints(changes: list[Change]) -> list[Risk]:
    by_urn = {c.urn: c for c in changes}
    risks = []
    for change in changes:
        if change.type != ENDPOINT:
            continue
        endpoint = change.resource["inputs"].get("endpointName", change.name)
        if change.action in ("replace", "delete"):
            verb = "replaced" if change.action == "replace" else "deleted"
            risks.append(Risk("endpoint-outage", "warning", change.urn, f"Takes endpoint `{endpoint}` out of service",
                              f"{_why(change)} The endpoint is {verb}: requests to it fail until a new one is in "
                              "service.".strip()))
        elif change.action == "update" and under(change.leaves, "endpointConfigName"):
            cause = _cause_chain(change, by_urn) or _leaf_text(under(change.leaves, "endpointConfigName"))
            risks.append(Risk("endpoint-rollout", "note", change.urn,
                              f"Rolls out a new configuration on endpoint `{endpoint}`",
                              f"{cause[0].upper()}{cause[1:]}. {_rollout(change.resource)}"))
    return risks


def assess(changes: list[Change], old: dict[str, Resource], new: dict[str, Resource]) -> list[Risk]:
    """Every risk of a diff, data loss first."""
    found = [r for c in changes if (r := _data_loss(c)) is not None]
    found += _drains(changes, old, new) + _endpoints(changes)
    return sorted(found, key=lambda r: SEVERITY_ORDER.index(r.severity))
