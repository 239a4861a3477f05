"""Compare a stack's offline plan with the same stack at another git revision: what a pull request
costs and why, what it grants and revokes, what it replaces, destroys or interrupts.

The other revision is exported with ``git archive`` into a temporary directory and planned there by
its own code, so the comparison is between what each revision would really create. That plan runs
in a second process while this one plans the working tree.

``compare`` returns the diff as data (``hoist plan --diff REF --json``); ``hoist.plan.comment``
renders the same data as the pull-request comment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hoist.plan import attribution, changes, grants, risks
from infra.stack_files import ConfigError

FORMAT_VERSION = 1


@contextlib.contextmanager
def planning_at_revision(stack: str, ref: str, repo_root: Path) -> Iterator[Callable[[], dict[str, Any] | None]]:
    """Start planning ``stack`` at ``ref`` in the background; the yielded function waits for the
    ``--json`` plan (None when the stack did not exist there)."""
    with tempfile.TemporaryDirectory(prefix="hoist-diff-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(repo_root), "archive", "--format=tar", ref],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            message = archive.stderr.decode(errors="replace").strip().splitlines()
            raise ConfigError(f"--diff {ref}: not a revision of this repository ({message[-1] if message else ''})")
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        if not (tree / "stacks" / f"Pulumi.{stack}.yaml").exists():
            yield lambda: None
            return
        env = {**os.environ, "PYTHONPATH": str(tree)}
        # The command moved from infra/cli.py to hoist/cli.py; older revisions are planned by their own.
        command = "hoist.cli" if (tree / "hoist" / "cli.py").exists() else "infra.cli"
        out, err = Path(tmp) / "plan.json", Path(tmp) / "plan.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen([sys.executable, "-m", command, "plan", "--stack", stack, "--json"],
                                       cwd=tree, env=env, stdout=stdout, stderr=stderr, text=True)

        def result() -> dict[str, Any] | None:
            if process.wait() != 0:
                last = (err.read_text().strip().splitlines() or ["no output"])[-1]
                raise ConfigError(f"--diff {ref}: planning {stack} at that revision failed: {last}")
            baseline: dict[str, Any] = json.loads(out.read_text())
            return baseline

        try:
            yield result
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def compare(stack: str, ref: str, base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, Any]:
    """The diff of two ``--json`` plans of one stack, as data."""
    old, new = changes.resources(base), changes.resources(head)
    found = changes.between(base, head)
    names = {urn: r["name"] for urn, r in {**old, **new}.items()}
    counts = {action: sum(c.action == action for c in found) for action in ("create", "update", "replace", "delete")}
    return {
        "format": FORMAT_VERSION,
        "stack": stack,
        "base": {"ref": ref, "exists": base is not None},
        "risks": [r.as_dict() for r in risks.assess(found, old, new)],
        "cost": attribution.attribute(base["cost"]["lines"] if base else [], head["cost"]["lines"]),
        "resources": {**counts, "total": head["resource_count"]},
        "permissions": [p.as_dict() for p in grants.changes((c.before, c.after) for c in found)],
        "changes": [c.as_dict(names) for c in found],
        "policy": {"passed": head["policy"]["passed"], "policies": len(head["policy"]["policies"]),
                   "violations": head["policy"]["violations"]},
        "llm_sizing": {"before": base.get("llm_sizing") if base else None, "after": head.get("llm_sizing")},
        "inference_components": {"before": base.get("inference_components") if base else None,
                                 "after": head.get("inference_components")},
    }
