"""The `hoist` command: a thin dispatcher over the offline plan and, later, jobs and deployments."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from infra.config import PROJECT_ROOT, ConfigError
from infra.outputs import StackOutputs


def _plan(args: argparse.Namespace) -> int:
    from infra import cost, diff, plan, policy_report, report
    from infra.config import available_stacks

    if args.stack == "all" and args.diff:
        raise ConfigError("--diff compares one stack; name it with --stack")
    # One process for every stack: pulumi_aws's modules are imported once, not once per stack.
    stacks = available_stacks() if args.stack == "all" else [args.stack]
    passed, documents = True, {}
    for stack in stacks:
        planned = plan.run(stack, preview=args.preview)
        policy = policy_report.evaluate(planned)
        estimate = cost.estimate(planned)
        passed &= policy.passed
        data = report.as_dict(planned, policy, estimate)
        if args.diff:
            base = diff.plan_at_revision(stack, args.diff, PROJECT_ROOT)
            sys.stdout.write(diff.markdown(stack, args.diff, base, data))
        elif args.json:
            documents[stack] = data
        else:
            report.print_plan(Console(), planned, policy, estimate)
    if args.json:
        json.dump(documents if args.stack == "all" else documents[args.stack], sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0 if passed else 1


def load_outputs(args: argparse.Namespace) -> StackOutputs:
    """A stack's outputs: from --outputs FILE, from the offline plan (--offline), or from Pulumi."""
    from infra import outputs

    if args.outputs:
        return outputs.from_file(Path(args.outputs))
    if args.offline:
        from infra import plan

        return outputs.from_mapping(plan.run(args.stack).outputs, f"offline plan of {args.stack}")
    return outputs.from_pulumi(args.stack, PROJECT_ROOT)


def _outputs(args: argparse.Namespace) -> int:
    stack_outputs = load_outputs(args)
    if stack_outputs.stack != args.stack:
        raise ConfigError(f"outputs are for stack {stack_outputs.stack!r}, not {args.stack!r}")
    sys.stdout.write(stack_outputs.model_dump_json(indent=2) + "\n")
    return 0


def add_outputs_source(command: argparse.ArgumentParser) -> None:
    source = command.add_mutually_exclusive_group()
    source.add_argument("--outputs", metavar="FILE", help="read stack outputs from a JSON file")
    source.add_argument("--offline", action="store_true", help="use the offline plan's outputs (dry runs)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hoist", description="Take large models from code to cloud on AWS.")
    commands = root.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="plan a stack offline: resources, policy report, monthly cost")
    plan.add_argument("--stack", required=True,
                      help="stack name (a file stacks/Pulumi.<stack>.yaml), or 'all' for every stack")
    output = plan.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--diff", metavar="REF", help="compare with the stack at git revision REF (Markdown)")
    plan.add_argument("--preview", action="store_true",
                      help="plan as `pulumi preview` of a new stack sees it: computed values unknown")
    plan.set_defaults(run=_plan)

    outputs = commands.add_parser("outputs", help="show a stack's typed outputs, as the other commands see them")
    outputs.add_argument("--stack", required=True, help="stack name")
    add_outputs_source(outputs)
    outputs.set_defaults(run=_outputs)
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
