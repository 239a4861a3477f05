"""`hoist train local|eks|sagemaker|status|logs`: one training job, here, on a stack's cluster, or as a
SageMaker training job, and following a cluster job. Every backend checks the training settings with
``training.config`` before anything runs or is sent."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import Progress

from hoist import outputs as stack_outputs
from hoist.jobs import eks, job_name, sagemaker
from hoist.jobs.inputs import JobInputs
from hoist.local import classic
from hoist.local.layout import Layout, LocalSettings, default_workdir
from infra.stack_files import ConfigError, load_stack
from training.config import DEFAULT_RECIPE, resolve


def _cloud_outputs(args: argparse.Namespace, what: str) -> stack_outputs.StackOutputs:
    """The outputs a cloud job is built from. A dry run sends nothing, so without --outputs the
    offline plan's names (buckets, image, pools) serve."""
    if args.offline and not args.dry_run:
        raise ConfigError(f"--offline outputs name no real {what}; add --dry-run, or read the deployed stack")
    if args.dry_run and not args.outputs:
        return stack_outputs.offline_outputs(args.stack)
    return stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline)


def local(args: argparse.Namespace) -> int:
    recipe = args.recipe or DEFAULT_RECIPE
    steps = resolve(recipe, args.set).steps
    settings = LocalSettings(workdir=Path(args.workdir).resolve() if args.workdir else default_workdir("train"),
                             recipe=recipe, nproc=args.nproc, overrides=tuple(args.set))
    layout = Layout(settings.workdir)
    layout.create()
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("train", total=steps)
        result = classic.train_stage(settings, layout, lambda step: progress.update(task, completed=step))
    sys.stdout.write(json.dumps({**result, "checkpoints": str(layout.checkpoints),
                                 "metrics": str(layout.training_output / "metrics.jsonl")}, indent=2) + "\n")
    return 0


def eks_job(args: argparse.Namespace) -> int:
    cfg = load_stack(args.stack)
    outputs = _cloud_outputs(args, "cluster")
    request = eks.TrainJobRequest(
        name=args.name or job_name(args.stack, "train", dt.datetime.now(dt.UTC)), pool=args.pool,
        nodes=args.nodes, efa=args.efa, recipe=args.recipe or cfg.training_jobs.recipe,
        inputs=JobInputs(base_model=args.base_model, data=args.data), overrides=tuple(args.set))
    job = eks.train_job(cfg, outputs, request)
    if args.dry_run:
        sys.stdout.write(yaml.safe_dump(job, sort_keys=False))
        sys.stdout.flush()
        print("hoist train: dry run; the TrainJob matches the Trainer v2.3 API and its pods the Kubernetes "
              f"{cfg.cluster.kubernetes_version} schema; nothing was sent", file=sys.stderr)
        return 0
    eks.submit(job, outputs)
    print(f"hoist train: submitted TrainJob {request.name} to pool {args.pool}; follow it with "
          f"`hoist train logs --stack {args.stack} --name {request.name} --follow`", file=sys.stderr)
    return 0


def sagemaker_job(args: argparse.Namespace) -> int:
    cfg = load_stack(args.stack)
    outputs = _cloud_outputs(args, "role or bucket")
    job = sagemaker.submit(args.stack, cfg, outputs, args.recipe or cfg.training_jobs.recipe, args.set,
                           dry_run=args.dry_run, inputs=JobInputs(base_model=args.base_model, data=args.data))
    if args.dry_run:
        sys.stdout.write(json.dumps(job.params, indent=2, sort_keys=True) + "\n")
        print("hoist train: dry run; the request matches botocore's CreateTrainingJob shape; nothing was sent",
              file=sys.stderr)
    else:
        print(f"hoist train: started SageMaker training job {job.name}", file=sys.stderr)
    return 0


def status(args: argparse.Namespace) -> int:
    outputs = stack_outputs.load(args.stack, outputs_file=args.outputs)
    sys.stdout.write(json.dumps(eks.status(args.name, outputs), indent=2) + "\n")
    return 0


def logs(args: argparse.Namespace) -> int:
    outputs = stack_outputs.load(args.stack, outputs_file=args.outputs)
    for chunk in eks.logs(args.name, outputs, follow=args.follow):
        sys.stdout.write(chunk)
    return 0
