"""Plan documents for diff tests: the real program under mocks, as `hoist plan --json` writes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoist.plan import cost, diff, policies, recording, report
from hoist.plan.recording import Plan
from tests.conftest import planned


def document(plan: Plan) -> dict[str, Any]:
    """The ``--json`` document of a plan, through JSON as the other revision's process hands it over."""
    data = report.as_dict(plan, policies.evaluate(plan), cost.estimate(plan))
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def diff_after(stack: str, change: Callable[[], object]) -> dict[str, Any]:
    """The diff that ``change`` (an edit of the stack file, or of the program) makes to ``stack``."""
    base = document(planned(stack))  # before the change, which must not reach the shared plans
    change()
    return diff.compare(stack, "main", base, document(recording.record(stack)))


def edit_stack(stacks: Path, stack: str, old: str, new: str) -> None:
    path = stacks / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new))


def by_action(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The diff's changes as (action, name, type short name)."""
    return [(c["action"], c["name"], c["type"].rsplit(":", 1)[-1]) for c in data["changes"]]
