"""What happens to each resource between two plans: created, updated in place, replaced, or deleted.

Resources are matched by URN, and a renamed resource by the aliases its recording carries, as the
Pulumi engine matches them. A change to a create-only input (``replacements``) replaces the
resource. A replacement reaches further than its own inputs: a resource that reads a replaced
resource's name, ARN or id sees new values after apply (unknown during a real preview), and when the
input it reads them into is create-only, it is replaced too. The recording names the resources each
input is computed from (``input_sources``), so the plan follows that chain here; a replacement that
keeps an explicitly set name keeps its identity and goes no further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hoist.plan import replacements
from hoist.plan.leaves import Leaf, leaf_changes, under
from hoist.plan.replacements import Reason
from hoist.plan.report import COMPUTED

Resource = dict[str, Any]
"""One resource of a ``--json`` plan: urn, type, name, inputs, protect, retain_on_delete, ..."""


@dataclass
class Change:
    action: str
    """``create``, ``update``, ``replace`` or ``delete``."""
    before: Resource | None
    after: Resource | None
    leaves: list[Leaf] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    """Why it is replaced: create-only inputs that change."""
    caused_by: dict[str, str] = field(default_factory=dict)
    """Input -> URN of the replaced resource it is computed from."""
    option_changes: list[Leaf] = field(default_factory=list)

    @property
    def resource(self) -> Resource:
        current = self.after if self.after is not None else self.before
        assert current is not None
        return current

    @property
    def urn(self) -> str:
        return str(self.resource["urn"])

    @property
    def name(self) -> str:
        return str(self.resource["name"])

    @property
    def type(self) -> str:
        return str(self.resource["type"])

    def as_dict(self, names: dict[str, str]) -> dict[str, Any]:
        return {
            "action": self.action, "urn": self.urn, "name": self.name, "type": self.type,
            "holds_data": replacements.holds_data(self.type) is not None,
            "protect": bool((self.before or self.resource).get("protect")),
            "retain_on_delete": bool((self.before or self.resource).get("retain_on_delete")),
            "inputs": [{"path": leaf.path, "before": leaf.before, "after": leaf.after} for leaf in self.leaves],
            "options": [{"option": leaf.path, "before": leaf.before, "after": leaf.after}
                        for leaf in self.option_changes],
            "replaced_because": [{"path": r.path, "because": r.because} for r in self.reasons],
            "computed_from_replaced": [{"input": key, "urn": urn, "name": names.get(urn, urn)}
                                       for key, urn in sorted(self.caused_by.items())],
        }


def resources(plan: dict[str, Any] | None) -> dict[str, Resource]:
    if plan is None:
        return {}
    return {r["urn"]: r for group in plan["components"].values() for r in group}


def match(old: dict[str, Resource], new: dict[str, Resource]) -> dict[str, str | None]:
    """Head URN -> the base URN it continues (itself, or one of its aliases); None for a new resource."""
    return {urn: next((a for a in [urn, *new[urn].get("aliases", [])] if a in old), None) for urn in new}


def _ignored(path: str, ignored: list[str]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in ignored)


def _compared(before: Resource, after: Resource) -> Change:
    # The engine keeps an ignore_changes input at its applied value: no change, and no replacement.
    ignored = list(after.get("ignore_changes", []))
    leaves = [leaf for leaf in leaf_changes(before["inputs"], after["inputs"]) if not _ignored(leaf.path, ignored)]
    options = [Leaf(option, before.get(option), after.get(option)) for option in ("protect", "retain_on_delete")
               if bool(before.get(option)) != bool(after.get(option))]
    reasons = [reason for reason in replacements.replacing(after["type"], before["inputs"], after["inputs"])
               if not _ignored(reason.path, ignored)]
    return Change("replace" if reasons else "update", before, after, leaves, reasons, option_changes=options)


def _changes_identity(change: Change) -> bool:
    """Whether resources reading this replaced resource see new values (its name, ARN or id)."""
    entry = replacements.CREATE_ONLY.get(change.type)
    named = replacements.keeps_identity(change.type, change.resource["inputs"])
    renamed = entry is not None and any(r.path == entry.name for r in change.reasons)
    return not named or renamed


ORDER = ("replace", "delete", "update", "create")
"""The order a reviewer reads changes in: what goes away first. Within an action, by URN (so by
component), since the engine registers resources in no fixed order."""


def between(base: dict[str, Any] | None, head: dict[str, Any]) -> list[Change]:
    """Every resource that is created, changed, replaced or deleted."""
    old, new = resources(base), resources(head)
    matched = match(old, new)
    found: dict[str, Change] = {}
    for urn, was in matched.items():
        if was is None:
            found[urn] = Change("create", None, new[urn])
            continue
        change = _compared(old[was], new[urn])
        if change.leaves or change.option_changes:
            found[urn] = change
    _follow_replacements(old, new, matched, found)
    continued = {was for was in matched.values() if was is not None}
    deleted = [Change("delete", old[urn], None) for urn in old if urn not in continued]
    return sorted([*found.values(), *deleted], key=lambda c: (ORDER.index(c.action), c.urn))


def _follow_replacements(old: dict[str, Resource], new: dict[str, Resource], matched: dict[str, str | None],
                         found: dict[str, Change]) -> None:
    """Carry each replacement to the resources computed from it, until nothing more changes."""
    renewed = {urn for urn, c in found.items() if c.action == "replace" and _changes_identity(c)}
    progress = True
    while progress:
        progress = False
        for urn, resource in new.items():
            was = matched[urn]
            if was is None:
                continue
            for key, sources in sorted(resource.get("input_sources", {}).items()):
                source = min((s for s in sources if s in renewed and s != urn), default=None)
                change = found.get(urn)
                if source is None or (change is not None and (key in change.caused_by or change.action == "replace")):
                    continue
                if change is None:
                    change = found[urn] = Change("update", old[was], resource)
                change.caused_by[key] = source
                if not under(change.leaves, key):
                    change.leaves.append(Leaf(key, old[was]["inputs"].get(key), COMPUTED))
                if key in replacements.create_only_inputs(change.type):
                    change.action = "replace"
                    change.reasons.append(Reason(key, f"computed from `{new[source]['name']}`, which is replaced"))
                    if _changes_identity(change):
                        renewed.add(urn)
                progress = True
