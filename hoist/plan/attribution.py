"""Where a cost change comes from: the cost lines of two plans, grouped by what a reviewer calls them
(a GPU pool, an endpoint variant, the NAT gateways), the groups that changed, largest first.

Amounts are added up in cents, and the totals are the sums of the lines, so the groups' deltas add up
to the totals' delta exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Line = dict[str, Any]
"""One cost line of a ``--json`` plan: component, subject, item, quantity, monthly_max_usd, ..."""


@dataclass
class _Side:
    max_cents: int = 0
    idle_cents: int = 0
    quantities: list[str] = field(default_factory=list)

    def add(self, line: Line) -> None:
        self.max_cents += round(line["monthly_max_usd"] * 100)
        self.idle_cents += round(line["monthly_idle_usd"] * 100)
        self.quantities.append(f"{line['quantity']:g} × {line['item']}")

    def as_dict(self) -> dict[str, Any]:
        return {"monthly_max_usd": self.max_cents / 100, "monthly_idle_usd": self.idle_cents / 100,
                "quantity": ", ".join(self.quantities)}


def _legacy_item(line: Line) -> str:
    """How a line's item read in plans written before lines had subjects."""
    subject, item = line["subject"], str(line["item"])
    if subject.startswith("GPU pool "):
        return f"{subject}: {item}"
    if subject.startswith("SageMaker endpoint variant "):
        return f"SageMaker endpoint {item}"
    if subject.startswith("EKS node group "):
        return f"EKS nodes {item}"
    if subject.startswith("FSx for Lustre "):
        return "FSx for Lustre (GB-month)"
    return item


def _totals(sides: list[_Side]) -> dict[str, float]:
    return {"monthly_max_usd": sum(s.max_cents for s in sides) / 100,
            "monthly_idle_usd": sum(s.idle_cents for s in sides) / 100}


def attribute(before: list[Line], after: list[Line]) -> dict[str, Any]:
    """The totals before and after, their delta, and the changed groups of lines, largest first."""
    legacy = {(line["component"], _legacy_item(line)): line["subject"] for line in after}
    groups: dict[tuple[str, str], tuple[_Side, _Side]] = {}
    for index, lines in enumerate((before, after)):
        for line in lines:
            subject = line.get("subject") or legacy.get((line["component"], line["item"]), line["item"])
            groups.setdefault((line["component"], subject), (_Side(), _Side()))[index].add(line)
    changed: list[dict[str, Any]] = [
        {"component": component, "subject": subject, "before": old.as_dict(), "after": new.as_dict(),
         "delta_max_usd": (new.max_cents - old.max_cents) / 100,
         "delta_idle_usd": (new.idle_cents - old.idle_cents) / 100}
        for (component, subject), (old, new) in groups.items()
        if (old.max_cents, old.idle_cents) != (new.max_cents, new.idle_cents)
    ]
    changed.sort(key=lambda g: (-abs(g["delta_max_usd"]), -abs(g["delta_idle_usd"]), g["subject"], g["component"]))
    old_total, new_total = _totals([g[0] for g in groups.values()]), _totals([g[1] for g in groups.values()])
    return {"before": old_total, "after": new_total,
            "delta": {key: round(new_total[key] - old_total[key], 2) for key in old_total},
            "lines": changed}
