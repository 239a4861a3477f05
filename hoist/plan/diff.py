"""Compare a stack's offline plan with the same stack at another git revision, as Markdown.

The other revision is exported with ``git archive`` into a temporary directory and planned there by
its own code, so the comparison is between what each revision would really create.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.stack_files import ConfigError


def plan_at_revision(stack: str, ref: str, repo_root: Path) -> dict[str, Any] | None:
    """The ``--json`` plan of ``stack`` at ``ref``; None when the stack did not exist there."""
    with tempfile.TemporaryDirectory(prefix="hoist-diff-") as tmp:
        archive = subprocess.run(["git", "-C", str(repo_root), "archive", "--format=tar", ref],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            message = archive.stderr.decode(errors="replace").strip().splitlines()
            raise ConfigError(f"--diff {ref}: not a revision of this repository ({message[-1] if message else ''})")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        if not (Path(tmp) / "stacks" / f"Pulumi.{stack}.yaml").exists():
            return None
        env = {**os.environ, "PYTHONPATH": tmp}
        # The command moved from infra/cli.py to hoist/cli.py; older revisions are planned by their own.
        command = "hoist.cli" if (Path(tmp) / "hoist" / "cli.py").exists() else "infra.cli"
        result = subprocess.run([sys.executable, "-m", command, "plan", "--stack", stack, "--json"],
                                cwd=tmp, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"--diff {ref}: planning {stack} at that revision failed: {last}")
        baseline: dict[str, Any] = json.loads(result.stdout)
        return baseline


def _resources(plan: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if plan is None:
        return {}
    return {r["urn"]: r for resources in plan["components"].values() for r in resources}


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changed_inputs(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(before["inputs"]) | set(after["inputs"])):
        old, new = before["inputs"].get(key), after["inputs"].get(key)
        if old != new:
            changes.append(f"`{key}`: {_short(old)} → {_short(new)}")
    for option in ("protect", "retain_on_delete"):
        if before.get(option) != after.get(option):
            changes.append(f"`{option}`: {before.get(option)} → {after.get(option)}")
    return changes


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _delta(value: float) -> str:
    return f"{'+' if value >= 0 else '−'}{_money(abs(value))}"


def markdown(stack: str, ref: str, base: dict[str, Any] | None, head: dict[str, Any]) -> str:
    """A pull-request comment: resources added / removed / changed, cost delta, policy result."""
    old, new = _resources(base), _resources(head)
    # A resource renamed with an alias is the same resource to the engine: match it at its old URN.
    matched = {u: next((a for a in [u, *new[u].get("aliases", [])] if a in old), None) for u in new}
    added = [new[u] for u, was in matched.items() if was is None]
    removed = [old[u] for u in old if u not in matched.values()]
    changed = [(old[was], new[u]) for u, was in matched.items()
               if was is not None and changed_inputs(old[was], new[u])]
    base_cost = base["cost"] if base else {"monthly_max_usd": 0.0, "monthly_idle_usd": 0.0}
    head_cost = head["cost"]
    policy = head["policy"]

    lines = [f"### hoist plan — `{stack}` compared with `{ref}`", ""]
    if base is None:
        lines += [f"_Stack `{stack}` does not exist at `{ref}`; everything below is new._", ""]
    lines += [
        "| | at maximum | idle |",
        "|---|---:|---:|",
        f"| monthly cost before | {_money(base_cost['monthly_max_usd'])} | {_money(base_cost['monthly_idle_usd'])} |",
        f"| monthly cost after | {_money(head_cost['monthly_max_usd'])} | {_money(head_cost['monthly_idle_usd'])} |",
        f"| **delta** | **{_delta(head_cost['monthly_max_usd'] - base_cost['monthly_max_usd'])}** | "
        f"**{_delta(head_cost['monthly_idle_usd'] - base_cost['monthly_idle_usd'])}** |",
        "",
        f"**Resources:** {len(added)} to add, {len(changed)} to change, {len(removed)} to remove "
        f"({head['resource_count']} in total).",
        "",
    ]
    if policy["passed"]:
        lines.append(f"**Policy:** {len(policy['policies'])} policies, no violations.")
    else:
        lines.append(f"**Policy:** {len(policy['violations'])} violation(s) — `pulumi up` would be refused:")
        lines += [f"- `{v['policy']}` on `{v['urn'].rsplit('::', 1)[-1]}`: {v['message']}"
                  for v in policy["violations"]]
    if added or removed or changed:
        lines += ["", "| | resource | type | details |", "|---|---|---|---|"]
        lines += [f"| + | `{r['name']}` | `{r['type']}` | |" for r in added]
        lines += [f"| − | `{r['name']}` | `{r['type']}` | |" for r in removed]
        for before, after in changed:
            details = "<br>".join(changed_inputs(before, after)).replace("|", "\\|")
            lines.append(f"| ~ | `{after['name']}` | `{after['type']}` | {details} |")
    return "\n".join(lines) + "\n"
