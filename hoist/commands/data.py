"""`hoist data prepare`: clean, deduplicate and tokenise raw text into shards, here or as a SageMaker
Processing job; both run the training image's own entrypoint with the same checked settings."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from hoist import outputs as stack_outputs
from hoist.jobs import processing
from hoist.processes import child_env
from infra.stack_files import ConfigError, load_stack
from training.prepare import PrepareError, Settings


def _settings(args: argparse.Namespace) -> Settings:
    """The preparation settings, checked before anything runs or is sent."""
    settings = Settings(tokenizer=args.tokenizer, vocab_size=args.vocab_size, text_field=args.text_field,
                        min_chars=args.min_chars, max_chars=args.max_chars, shard_tokens=args.shard_tokens)
    try:
        settings.check()
    except PrepareError as exc:
        raise ConfigError(str(exc)) from None
    return settings


def prepare(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.backend == "local":
        if args.stack or args.dry_run or args.outputs or args.offline:
            raise ConfigError("--stack, --dry-run, --outputs and --offline apply to --backend sagemaker")
        argv = [sys.executable, "-m", "training.prepare", "--input", args.input, "--output", args.output,
                "--workers", str(args.workers), *settings.arguments()]
        return subprocess.run(argv, env=child_env(), check=False).returncode

    if not args.stack:
        raise ConfigError("--backend sagemaker needs --stack")
    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real role or bucket; add --dry-run, or read the deployed stack")
    if args.tokenizer == "bpe" and args.instances > 1:
        raise ConfigError("--tokenizer bpe with --instances > 1: each instance would learn its own vocabulary; "
                          "use one instance, or the byte tokenizer")
    job = processing.prepare_job(args.stack, load_stack(args.stack),
                                 stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline),
                                 args.input, args.output, settings, instances=args.instances,
                                 instance_type=args.instance_type, dry_run=args.dry_run)
    if args.dry_run:
        sys.stdout.write(json.dumps(job.params, indent=2, sort_keys=True) + "\n")
        print("hoist data prepare: dry run; the request matches botocore's CreateProcessingJob shape; "
              "nothing was sent", file=sys.stderr)
    else:
        print(f"hoist data prepare: started SageMaker Processing job {job.name}", file=sys.stderr)
    if args.instances > 1:
        print(f"hoist data prepare: each instance writes {args.output.rstrip('/')}/<host>/; when the job ends, run "
              f"python -m training.prepare --merge --output {args.output}", file=sys.stderr)
    return 0
