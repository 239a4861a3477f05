"""`hoist local`: the whole lifecycle on this machine (plan, prepare, train, optimise, serve, invoke)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from hoist import local as lifecycle
from infra.stack_files import ConfigError
from training.config import DEFAULT_RECIPE, resolve


def local(args: argparse.Namespace) -> int:
    for name in ("nproc", "problems", "clients", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} {value}: must be at least 1")
    # The training settings are checked before the first stage runs.
    resolve(DEFAULT_RECIPE, [*args.set, *([f"steps={args.steps}"] if args.steps else [])])
    settings = lifecycle.LocalSettings(
        workdir=Path(args.workdir).resolve() if args.workdir else lifecycle.default_workdir("local"),
        steps=args.steps, nproc=args.nproc, seed=args.seed, problems=args.problems, clients=args.clients,
        overrides=tuple(args.set))
    summary = lifecycle.run_lifecycle(settings, Console(stderr=True))
    lifecycle.print_summary(summary, Console())
    return 0
