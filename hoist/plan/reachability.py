"""The reachability table of a plan: for each workload, each AWS service it needs, the path and the verdict.

The rows come from the policy pack's own analysis (``policy.reachability``), run over the same resource
views the pack sees, so the table and the `workload-reachability` policy cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pulumi_policy.proxy import UnknownValueError
from rich.console import Console
from rich.table import Table

from hoist.plan.policies import resource_views
from hoist.plan.recording import Plan
from policy.reachability import Reach, analyse


def table(plan: Plan) -> list[Reach] | None:
    """The rows, or None when a value the paths depend on is unknown (a preview)."""
    try:
        return [row for _, row in analyse(resource_views(plan))]
    except UnknownValueError:
        return None


def as_dicts(rows: list[Reach] | None) -> list[dict[str, Any]] | None:
    if rows is None:
        return None
    return [asdict(r) for r in rows]


def print_table(console: Console, stack: str, rows: list[Reach] | None) -> None:
    if rows is None:
        console.print("reachability: not judged (a value it depends on is unknown during preview)")
        return
    out = Table(title=f"Reachability, {stack}: AWS services each workload needs")
    for column in ("workload", "service", "path", "verdict"):
        out.add_column(column)
    for row in rows:
        name = row.workload if row.placement in row.workload else f"{row.workload} ({row.placement})"
        verdict = ("[green]reachable[/green]" if row.carrier == "eni" else "[dim]platform[/dim]") \
            if row.reachable else "[red]UNREACHABLE[/red]"
        out.add_row(name, row.service, row.path, verdict)
    console.print(out)
