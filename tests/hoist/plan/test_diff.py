"""The plan diff treats a resource renamed with an alias as the same resource, as the engine does."""

from __future__ import annotations

from typing import Any

from hoist.plan import diff
from tests.conftest import planned

OLD = "urn:pulumi:dev::hoist::hoist:cluster:InCluster$aws:iam/role:Role::hoist-dev-trainer"
NEW = "urn:pulumi:dev::hoist::hoist:in_cluster:InCluster$aws:iam/role:Role::hoist-dev-trainer"


def _plan(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"components": {"c": resources}, "resource_count": len(resources),
            "cost": {"monthly_max_usd": 1.0, "monthly_idle_usd": 1.0},
            "policy": {"passed": True, "policies": [], "violations": []}}


def _role(urn: str, policy: str, aliases: list[str] | None = None) -> dict[str, Any]:
    return {"urn": urn, "type": "aws:iam/role:Role", "name": "hoist-dev-trainer", "protect": False,
            "retain_on_delete": False, "inputs": {"assumeRolePolicy": policy},
            **({"aliases": aliases} if aliases else {})}


def test_a_renamed_resource_is_matched_at_its_old_urn() -> None:
    text = diff.markdown("dev", "main", _plan([_role(OLD, "a")]), _plan([_role(NEW, "a", [OLD])]))
    assert "0 to add, 0 to change, 0 to remove" in text


def test_a_renamed_resource_that_also_changed_is_one_change() -> None:
    text = diff.markdown("dev", "main", _plan([_role(OLD, "a")]), _plan([_role(NEW, "b", [OLD])]))
    assert "0 to add, 1 to change, 0 to remove" in text and '`assumeRolePolicy`: "a" → "b"' in text


def test_without_the_alias_it_would_be_a_replacement() -> None:
    text = diff.markdown("dev", "main", _plan([_role(OLD, "a")]), _plan([_role(NEW, "a")]))
    assert "1 to add, 0 to change, 1 to remove" in text


def test_the_recording_carries_the_old_urns_of_a_renamed_component_and_its_children() -> None:
    plan = planned("dev")
    component = next(r for r in plan.resources if r.type == "hoist:in_cluster:InCluster")
    assert component.aliases == (component.urn.replace("hoist:in_cluster:InCluster", "hoist:cluster:InCluster"),)
    children = [r for r in plan.resources if r.parent == component.urn]
    assert children and all(r.aliases == (r.urn.replace("hoist:in_cluster:InCluster", "hoist:cluster:InCluster"),)
                            for r in children)
    unrenamed = next(r for r in plan.resources if r.type == "hoist:network:Network")
    assert unrenamed.aliases == ()
