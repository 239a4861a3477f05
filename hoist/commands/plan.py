"""`hoist plan` and `hoist policy-config`: the offline plan of a stack, and the pack's configuration for it."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from hoist.plan import cost, diff, policies, recording, report
from infra.stack_files import PROJECT_ROOT, ConfigError, available_stacks, load_stack


def plan(args: argparse.Namespace) -> int:
    if args.stack == "all" and args.diff:
        raise ConfigError("--diff compares one stack; name it with --stack")
    # One process for every stack: pulumi_aws's modules are imported once, not once per stack.
    stacks = available_stacks() if args.stack == "all" else [args.stack]
    passed, documents = True, {}
    for stack in stacks:
        planned = recording.record(stack, preview=args.preview)
        policy = policies.evaluate(planned)
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


def policy_config(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(policies.pack_config(load_stack(args.stack)), indent=2, sort_keys=True) + "\n")
    return 0
