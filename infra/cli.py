"""The `hoist` command: a thin dispatcher over the offline plan and, later, jobs and deployments."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console

from infra.config import PROJECT_ROOT, ConfigError


def _plan(args: argparse.Namespace) -> int:
    from infra import cost, diff, plan, policy_report, report

    planned = plan.run(args.stack, preview=args.preview)
    policy = policy_report.evaluate(planned)
    estimate = cost.estimate(planned)
    data = report.as_dict(planned, policy, estimate)
    if args.diff:
        base = diff.plan_at_revision(args.stack, args.diff, PROJECT_ROOT)
        sys.stdout.write(diff.markdown(args.stack, args.diff, base, data))
    elif args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        report.print_plan(Console(), planned, policy, estimate)
    return 0 if policy.passed else 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hoist", description="Take large models from code to cloud on AWS.")
    commands = root.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="plan a stack offline: resources, policy report, monthly cost")
    plan.add_argument("--stack", required=True, help="stack name (a file stacks/Pulumi.<stack>.yaml)")
    output = plan.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--diff", metavar="REF", help="compare with the stack at git revision REF (Markdown)")
    plan.add_argument("--preview", action="store_true",
                      help="plan as `pulumi preview` of a new stack sees it: computed values unknown")
    plan.set_defaults(run=_plan)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"hoist: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
