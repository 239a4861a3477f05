"""`hoist local`: the whole lifecycle on this machine (plan, prepare, train, optimise, serve, invoke)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from hoist.local import lifecycle
from hoist.local.layout import LANES, LocalSettings, default_workdir
from infra.stack_files import ConfigError
from training.config import DEFAULT_RECIPE, resolve


def local(args: argparse.Namespace) -> int:
    for name in ("nproc", "problems", "clients", "steps", "llm_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: must be at least 1")
    lanes = tuple(lane.strip() for lane in args.lanes.split(",") if lane.strip())
    unknown = [lane for lane in lanes if lane not in LANES]
    if unknown or not lanes:
        raise ConfigError(f"--lanes {args.lanes!r}: allowed: {', '.join(LANES)} (comma-separated)")
    if args.base is not None and not (Path(args.base) / "config.json").is_file():
        raise ConfigError(f"--base {args.base}: not a Hugging Face checkpoint directory (no config.json)")
    # The training settings are checked before the first stage runs.
    resolve(DEFAULT_RECIPE, [*args.set, *([f"steps={args.steps}"] if args.steps else [])])
    settings = LocalSettings(
        workdir=Path(args.workdir).resolve() if args.workdir else default_workdir("local"),
        steps=args.steps, nproc=args.nproc, seed=args.seed, problems=args.problems, clients=args.clients,
        overrides=tuple(args.set), lanes=lanes,
        base=Path(args.base).resolve() if args.base else None, llm_steps=args.llm_steps)
    summary = lifecycle.run_lifecycle(settings, Console(stderr=True))
    lifecycle.print_summary(summary, Console())
    return 0
