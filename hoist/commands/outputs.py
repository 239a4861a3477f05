"""`hoist outputs`: a stack's typed outputs, as the other commands see them."""

from __future__ import annotations

import argparse
import sys

from hoist import outputs as stack_outputs
from infra.stack_files import ConfigError


def outputs(args: argparse.Namespace) -> int:
    loaded = stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline)
    if loaded.stack != args.stack:
        raise ConfigError(f"outputs are for stack {loaded.stack!r}, not {args.stack!r}")
    sys.stdout.write(loaded.model_dump_json(indent=2) + "\n")
    return 0
