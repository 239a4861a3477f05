"""`hoist optimize`: the classic model through the training image's stage (``python -m training.optimize``),
an LLM through quantisation and the engine-scored gate (``hoist.optimize``)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from hoist import optimize as llm_optimize
from hoist.local.layout import default_workdir
from hoist.processes import child_env
from infra.stack_files import ConfigError


def optimize(args: argparse.Namespace) -> int:
    if args.scheme:
        if args.target:
            raise ConfigError("--target applies to the classic model; an LLM takes --scheme")
        if not args.questions:
            raise ConfigError("--scheme: the gate needs --questions (held-out JSON lines of question and answer)")
        questions = Path(args.questions)
        if not questions.is_file():
            raise ConfigError(f"--questions {questions}: no such file")
        gate = llm_optimize.Gate(llm_optimize.read_questions(questions), args.heldout, args.max_accuracy_drop,
                                 args.max_perplexity_rise)
        logs = default_workdir("optimize")
        logs.mkdir(parents=True, exist_ok=True)
        report = llm_optimize.optimize(args.model, args.output, args.scheme, gate, logs, args.calibration)
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0
    if not args.target:
        raise ConfigError("--target cpu|gpu for the classic model, or --scheme for an LLM")
    argv = [sys.executable, "-m", "training.optimize", "--model", args.model, "--output", args.output,
            "--target", args.target, "--bits", str(args.bits), "--max-accuracy-drop", str(args.max_accuracy_drop),
            "--problems", str(args.problems)]
    return subprocess.run(argv, env=child_env(), check=False).returncode
