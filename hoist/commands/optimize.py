"""`hoist optimize`: the training image's optimisation stage (``python -m training.optimize``), run here."""

from __future__ import annotations

import argparse
import subprocess
import sys

from hoist.processes import child_env


def optimize(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "training.optimize", "--model", args.model, "--output", args.output,
            "--target", args.target, "--bits", str(args.bits), "--max-accuracy-drop", str(args.max_accuracy_drop),
            "--problems", str(args.problems)]
    return subprocess.run(argv, env=child_env(), check=False).returncode
