"""What a stack's Pulumi state still holds, read from ``pulumi stack export`` on stdin.

teardown.yml asks it twice about the in-cluster side: whether there is anything to destroy there
(a first apply that failed before the runners existed leaves nothing, and no runner to destroy it
from), and, before the AWS side goes, that nothing is left (destroying the cluster under live
NodePools would orphan their GPU instances).

    python3 -m hoist.stack_state holds < export.json   # prints holds=true|false (for $GITHUB_OUTPUT)
    python3 -m hoist.stack_state empty < export.json   # exits 1 naming what remains

Standard library only: the hosted job that asks runs it without installing the project.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

# Bookkeeping, not anything in AWS or the cluster: the stack itself, providers, and the reference
# to the AWS side's outputs.
NOT_RESOURCES = ("pulumi:pulumi:Stack", "pulumi:pulumi:StackReference")


def remaining(export: dict[str, Any]) -> list[str]:
    """The URNs of the resources the state still holds."""
    resources = (export.get("deployment") or {}).get("resources") or []
    return [r["urn"] for r in resources
            if r["type"] not in NOT_RESOURCES and not r["type"].startswith("pulumi:providers:")]


def describe(urns: Sequence[str], shown: int = 5) -> str:
    names = [urn.rsplit("::", 1)[-1] for urn in urns]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args not in (["holds"], ["empty"]):
        print("usage: python3 -m hoist.stack_state {holds|empty} < export.json", file=sys.stderr)
        return 2
    try:
        export = json.load(sys.stdin)
    except json.JSONDecodeError as error:
        print(f"hoist: error: stdin is not a `pulumi stack export` document ({error})", file=sys.stderr)
        return 2
    left = remaining(export)
    if args == ["holds"]:
        print(f"holds={'true' if left else 'false'}")
        return 0
    if left:
        print(f"hoist: error: the in-cluster stack still holds {len(left)} resources ({describe(left)}); "
              "destroy the in-cluster side first, or its NodePools' GPU instances outlive the cluster",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
