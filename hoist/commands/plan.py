"""`hoist plan` and `hoist policy-config`: the offline plan of a stack, and the pack's configuration for it."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from hoist.plan import comment, cost, diff, policies, reachability, recording, report
from infra.stack_files import PROJECT_ROOT, ConfigError, available_stacks, load_stack


def plan(args: argparse.Namespace) -> int:
    if args.diff:
        return _diff(args)
    # One process for every stack: pulumi_aws's modules are imported once, not once per stack.
    stacks = available_stacks() if args.stack == "all" else [args.stack]
    passed, documents = True, {}
    for stack in stacks:
        planned = recording.record(stack, preview=args.preview)
        policy = policies.evaluate(planned)
        estimate = cost.estimate(planned)
        reach = reachability.table(planned)
        passed &= policy.passed
        if args.json:
            documents[stack] = report.as_dict(planned, policy, estimate, reach)
        else:
            report.print_plan(Console(), planned, policy, estimate, reach)
    if args.json:
        _write_json(documents if args.stack == "all" else documents[args.stack])
    return 0 if passed else 1


def _diff(args: argparse.Namespace) -> int:
    if args.stack == "all":
        raise ConfigError("--diff compares one stack; name it with --stack")
    if args.preview:
        raise ConfigError("--diff compares two complete plans; drop --preview")
    # The other revision is planned in a second process while this one plans the working tree.
    with diff.planning_at_revision(args.stack, args.diff, PROJECT_ROOT) as base_plan:
        planned = recording.record(args.stack)
        policy = policies.evaluate(planned)
        head = report.as_dict(planned, policy, cost.estimate(planned))
        base = base_plan()
    document = diff.compare(args.stack, args.diff, base, head)
    if args.json:
        _write_json(document)
    else:
        sys.stdout.write(comment.markdown(document))
    return 0 if policy.passed else 1


def _write_json(document: object) -> None:
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def policy_config(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(policies.pack_config(load_stack(args.stack)), indent=2, sort_keys=True) + "\n")
    return 0
