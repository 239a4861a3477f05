"""The `hoist` command: a thin dispatcher over the offline plan and, later, jobs and deployments."""

from __future__ import annotations

import argparse
import json
import os
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


def _policy_config(args: argparse.Namespace) -> int:
    from infra.config import load_stack
    from infra.policy_report import pack_config

    sys.stdout.write(json.dumps(pack_config(load_stack(args.stack)), indent=2, sort_keys=True) + "\n")
    return 0


def _outputs(args: argparse.Namespace) -> int:
    stack_outputs = load_outputs(args)
    if stack_outputs.stack != args.stack:
        raise ConfigError(f"outputs are for stack {stack_outputs.stack!r}, not {args.stack!r}")
    sys.stdout.write(stack_outputs.model_dump_json(indent=2) + "\n")
    return 0


def _build(args: argparse.Namespace) -> int:
    import tempfile

    from infra import build, stack_files

    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real registry; add --dry-run, or read the deployed stack")
    if args.tag is not None and not build.TAG.fullmatch(args.tag):
        raise ConfigError(f"--tag {args.tag!r}: 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    outputs = load_outputs(args)
    tag = args.tag or build.commit_tag(allow_dirty=args.dry_run)
    with tempfile.TemporaryDirectory(prefix="hoist-build-") as metadata_dir:
        steps = build.plan_builds(outputs, tag, Path(metadata_dir), serving=args.serving, platform=args.platform)
        if args.dry_run:
            sys.stdout.write(build.describe(steps) + "\n")
            return 0
        build.require_buildx()
        build.login(outputs)
        digests = build.run(steps)
    sys.stdout.write(json.dumps({"stack": outputs.stack, "tag": tag, "digests": digests}, sort_keys=True) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as stream:
            stream.write("| image | reference | digest |\n|---|---|---|\n")
            stream.writelines(f"| {part} | `{outputs.repositories[part]}:{tag}` | `{digest}` |\n"
                              for part, digest in digests.items())
    if args.write_config:
        stack_files.set_values(args.stack, {"images": {str(p): d for p, d in digests.items()}})
        print(f"hoist build: wrote the digests to hoist:images in stacks/Pulumi.{args.stack}.yaml", file=sys.stderr)
    return 0


def _workdir(args: argparse.Namespace, kind: str) -> Path:
    import datetime as dt

    if args.workdir:
        return Path(args.workdir).resolve()
    return PROJECT_ROOT / "runs" / kind / dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def _local(args: argparse.Namespace) -> int:
    from infra import local
    from training.config import TrainConfigError
    from training.config import build as training_config

    for name in ("nproc", "problems", "clients", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} {value}: must be at least 1")
    try:
        training_config("cpu_debug", [*args.set, *([f"steps={args.steps}"] if args.steps else [])])
    except TrainConfigError as exc:
        raise ConfigError(str(exc)) from None
    console = Console(stderr=True)
    settings = local.LocalSettings(workdir=_workdir(args, "local"), steps=args.steps, nproc=args.nproc,
                                   seed=args.seed, problems=args.problems, clients=args.clients,
                                   overrides=tuple(args.set))
    try:
        summary = local.run(settings, console)
    except local.LocalRunError as exc:
        print(f"hoist: error: {exc}", file=sys.stderr)
        return 1
    local.print_summary(summary, Console())
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.action != "run" and args.backend != "eks":
        raise ConfigError(f"hoist train {args.action}: only --backend eks; SageMaker jobs are followed in its console")
    if args.backend == "eks":
        return _train_eks(args)
    if args.pool or args.efa is not None or args.name:
        raise ConfigError("--pool, --efa and --name apply to --backend eks")
    if args.backend == "sagemaker":
        return _train_sagemaker(args)
    if args.stack or args.outputs or args.offline or args.dry_run:
        raise ConfigError("--stack, --outputs, --offline and --dry-run apply to cloud backends, not --backend local")
    return _train_local(args)


def _train_sagemaker(args: argparse.Namespace) -> int:
    from infra import sagemaker_jobs
    from infra.config import load_stack

    if not args.stack:
        raise ConfigError("--backend sagemaker needs --stack")
    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real role or bucket; add --dry-run, or read the deployed stack")
    cfg = load_stack(args.stack)
    if args.recipe:
        cfg = cfg.model_copy(update={"training_jobs": cfg.training_jobs.model_copy(update={"recipe": args.recipe})})
    request = sagemaker_jobs.submit(args.stack, cfg, load_outputs(args), args.set, dry_run=args.dry_run)
    if args.dry_run:
        sys.stdout.write(json.dumps(request.params, indent=2, sort_keys=True) + "\n")
        print("hoist train: dry run; the request matches botocore's CreateTrainingJob shape; nothing was sent",
              file=sys.stderr)
    else:
        print(f"hoist train: started SageMaker training job {request.name}", file=sys.stderr)
    return 0


def _train_eks(args: argparse.Namespace) -> int:
    import datetime as dt

    import yaml

    from infra import eks_jobs, outputs, plan
    from infra.config import load_stack
    from infra.trainjob import JobRequest

    if not args.stack:
        raise ConfigError("--backend eks needs --stack")
    if args.action != "run":
        if not args.name:
            raise ConfigError(f"hoist train {args.action} needs --name (the TrainJob's name)")
        stack_outputs = load_outputs(args)
        if args.action == "status":
            sys.stdout.write(json.dumps(eks_jobs.status(args.name, stack_outputs), indent=2) + "\n")
        else:
            for chunk in eks_jobs.logs(args.name, stack_outputs, follow=args.follow):
                sys.stdout.write(chunk)
        return 0
    if not args.pool:
        raise ConfigError("--backend eks needs --pool (one of the stack's gpu_pools)")
    cfg = load_stack(args.stack)
    if args.dry_run and not (args.outputs or args.offline):
        # Nothing is sent, so the offline plan's names (buckets, image, namespace) serve.
        stack_outputs = outputs.from_mapping(plan.run(args.stack).outputs, f"offline plan of {args.stack}")
    elif args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real cluster; add --dry-run, or read the deployed stack")
    else:
        stack_outputs = load_outputs(args)
    request = JobRequest(name=args.name or eks_jobs.job_name(args.stack, dt.datetime.now(dt.UTC)),
                         pool_name=args.pool, nodes=args.nodes, efa=args.efa,
                         recipe=args.recipe or cfg.training_jobs.recipe, data=args.data, overrides=tuple(args.set))
    job = eks_jobs.build(args.stack, cfg, stack_outputs, request)
    if args.dry_run:
        sys.stdout.write(yaml.safe_dump(job, sort_keys=False))
        sys.stdout.flush()
        print("hoist train: dry run; the TrainJob matches the Trainer v2.3 API and its pods the Kubernetes "
              f"{cfg.cluster.kubernetes_version} schema; nothing was sent", file=sys.stderr)
        return 0
    eks_jobs.submit(job, stack_outputs)
    print(f"hoist train: submitted TrainJob {request.name} to pool {args.pool}; follow it with "
          f"`hoist train logs --backend eks --stack {args.stack} --name {request.name} --follow`", file=sys.stderr)
    return 0


def _train_local(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from infra import local
    from training.config import TrainConfigError
    from training.config import build as training_config

    recipe = args.recipe or "cpu_debug"
    try:
        steps = training_config(recipe, args.set).steps
    except TrainConfigError as exc:
        raise ConfigError(str(exc)) from None
    settings = local.LocalSettings(workdir=_workdir(args, "train"), recipe=recipe, nproc=args.nproc,
                                   overrides=tuple(args.set))
    layout = local.Layout(settings.workdir)
    layout.create()
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("train", total=steps)
        try:
            result = local.train_stage(settings, layout, lambda step: progress.update(task, completed=step))
        except local.LocalRunError as exc:
            print(f"hoist: error: {exc}", file=sys.stderr)
            return 1
    sys.stdout.write(json.dumps({**result, "checkpoints": str(layout.checkpoints),
                                 "metrics": str(layout.training_output / "metrics.jsonl")}, indent=2) + "\n")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    import difflib
    import shutil
    import tempfile

    import boto3

    from infra import deploy
    from infra.config import load_stack, stack_file

    cfg = load_stack(args.stack)
    if cfg.endpoint is None:
        raise ConfigError(f"stack {args.stack} has no hoist:endpoint section; add one to serve a model")
    # Refusals that need no artifact come first, so nothing is fetched or changed for nothing.
    if args.apply and not cfg.endpoint.allow_apply:
        raise deploy.DeployError(f"stack {args.stack} does not allow --apply (hoist:endpoint.allow_apply is false); "
                                 "open a pull request with the change instead")
    if args.apply and shutil.which("pulumi") is None:
        raise deploy.DeployError(f"--apply needs the Pulumi CLI (https://www.pulumi.com/docs/install/); or run: "
                                 f"hoist deploy --stack {args.stack} --model-uri {args.model_uri} && "
                                 f"pulumi stack select {args.stack} && pulumi up --policy-pack policy")
    outputs = load_outputs(args)
    key = deploy.model_key(args.model_uri, outputs)
    with tempfile.TemporaryDirectory(prefix="hoist-deploy-") as tmp:
        archive = deploy.fetch(boto3.client("s3", region_name=outputs.region), outputs.buckets["models"].name, key,
                               Path(tmp) / "model.tar.gz")
        deploy.check_layout(archive)
        latency = deploy.check_serves(archive, Path(tmp) / "check", args.sample)
    print(f"hoist deploy: {args.model_uri} has the SageMaker layout and answered the sample in {latency:.0f} ms",
          file=sys.stderr)
    previous = deploy.promote(args.stack, key, args.image_digest)
    current = stack_file(args.stack).read_text()
    if current == previous:
        print(f"hoist deploy: stack {args.stack} already serves {key}; nothing to change", file=sys.stderr)
        return 0
    name = f"stacks/Pulumi.{args.stack}.yaml"
    sys.stdout.writelines(difflib.unified_diff(previous.splitlines(True), current.splitlines(True),
                                               f"a/{name}", f"b/{name}"))
    if args.apply:
        rollout = deploy.apply(args.stack, load_stack(args.stack), outputs, previous,
                               sagemaker=boto3.client("sagemaker", region_name=outputs.region),
                               cloudwatch=boto3.client("cloudwatch", region_name=outputs.region))
        print(f"hoist deploy: rolled out ({' -> '.join(rollout.statuses)}); endpoint config {rollout.config_after}",
              file=sys.stderr)
    return 0


def _invoke(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from infra import deploy

    body = deploy.read_body(args.body)
    outputs = load_outputs(args)
    if outputs.endpoint is None:
        raise ConfigError(f"stack {args.stack} exports no endpoint")
    runtime = boto3.client("sagemaker-runtime", region_name=outputs.region)
    try:
        answer, latency = deploy.invoke(runtime, outputs.endpoint.name, body, args.content_type, args.accept)
    except (BotoCoreError, ClientError) as exc:
        raise deploy.DeployError(f"invoking {outputs.endpoint.name} failed: {exc}") from None
    sys.stdout.write(answer + "\n")
    print(f"hoist invoke: {outputs.endpoint.name} answered in {latency:.1f} ms", file=sys.stderr)
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    import subprocess

    passthrough = ["--tokenizer", args.tokenizer, "--vocab-size", str(args.vocab_size),
                   "--shard-tokens", str(args.shard_tokens), "--min-chars", str(args.min_chars),
                   "--max-chars", str(args.max_chars), "--text-field", args.text_field]
    if args.backend == "local":
        if args.stack or args.dry_run or args.outputs or args.offline:
            raise ConfigError("--stack, --dry-run, --outputs and --offline apply to --backend sagemaker")
        # The training image's own entrypoint for the stage, run here.
        from infra.local import child_env

        argv = [sys.executable, "-m", "training.prepare", "--input", args.input, "--output", args.output,
                "--workers", str(args.workers), *passthrough]
        return subprocess.run(argv, env=child_env(), check=False).returncode

    from infra import sagemaker_jobs
    from infra.config import load_stack

    if not args.stack:
        raise ConfigError("--backend sagemaker needs --stack")
    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real role or bucket; add --dry-run, or read the deployed stack")
    if args.tokenizer == "bpe" and args.instances > 1:
        raise ConfigError("--tokenizer bpe with --instances > 1: each instance would learn its own vocabulary; "
                          "use one instance, or the byte tokenizer")
    request = sagemaker_jobs.prepare_job(args.stack, load_stack(args.stack), load_outputs(args), args.input,
                                         args.output, passthrough, instances=args.instances,
                                         instance_type=args.instance_type, dry_run=args.dry_run)
    if args.dry_run:
        sys.stdout.write(json.dumps(request.params, indent=2, sort_keys=True) + "\n")
        print("hoist data prepare: dry run; the request matches botocore's CreateProcessingJob shape; "
              "nothing was sent", file=sys.stderr)
    else:
        print(f"hoist data prepare: started SageMaker Processing job {request.name}", file=sys.stderr)
    if args.instances > 1:
        print(f"hoist data prepare: each instance writes {args.output.rstrip('/')}/<host>/; when the job ends, run "
              f"python -m training.prepare --merge --output {args.output}", file=sys.stderr)
    return 0


def _optimize(args: argparse.Namespace) -> int:
    import subprocess

    # The training image's entrypoint for the stage, run here.
    argv = [sys.executable, "-m", "training.optimize", "--model", args.model, "--output", args.output,
            "--target", args.target, "--bits", str(args.bits), "--max-accuracy-drop", str(args.max_accuracy_drop),
            "--problems", str(args.problems)]
    from infra.local import child_env

    return subprocess.run(argv, env=child_env(), check=False).returncode


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

    build = commands.add_parser("build", help="build both images with docker buildx, push them, print digests")
    build.add_argument("--stack", default="dev", help="the stack whose registry receives the images (default: dev)")
    add_outputs_source(build)
    build.add_argument("--tag", help="image tag (default: git-<commit>; tags are immutable)")
    build.add_argument("--serving", choices=("gpu", "cpu"), default="gpu",
                       help="build the serving image for GPU (CUDA base) or CPU instances")
    build.add_argument("--platform", default="linux/amd64", help="target platform (default: linux/amd64)")
    build.add_argument("--dry-run", action="store_true", help="print the buildx commands; build nothing")
    build.add_argument("--write-config", action="store_true",
                       help="also write the digests into the stack's hoist:images")
    build.set_defaults(run=_build)

    deploy = commands.add_parser("deploy", help="check a model artifact and promote it to a stack's endpoint")
    deploy.add_argument("--stack", required=True, help="stack name")
    deploy.add_argument("--model-uri", required=True, help="s3://<stack's models bucket>/<key>.tar.gz")
    deploy.add_argument("--image-digest", help="serving image digest (sha256:...) to promote with the model")
    deploy.add_argument("--sample", default='{"inputs": ["1+2"]}',
                        help="JSON request the handler must answer before the promotion is written")
    deploy.add_argument("--apply", action="store_true",
                        help="also run pulumi up and follow the rollout (only where hoist:endpoint.allow_apply)")
    add_outputs_source(deploy)
    deploy.set_defaults(run=_deploy)

    invoke = commands.add_parser("invoke", help="call a stack's endpoint once and print the answer and latency")
    invoke.add_argument("--stack", required=True, help="stack name")
    invoke.add_argument("--body", required=True, help="JSON request body, or @file")
    invoke.add_argument("--content-type", default="application/json", help="request content type")
    invoke.add_argument("--accept", default="application/json", help="accepted response type")
    add_outputs_source(invoke)
    invoke.set_defaults(run=_invoke)

    data = commands.add_parser("data", help="data preparation")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    prepare = data_commands.add_parser("prepare", help="clean, deduplicate and tokenise raw text into shards")
    prepare.add_argument("--input", required=True, help="directory or s3:// prefix of *.txt / *.jsonl files")
    prepare.add_argument("--output", required=True, help="directory or s3:// prefix for the shards")
    prepare.add_argument("--backend", choices=("local", "sagemaker"), default="local",
                         help="local processes, or a SageMaker Processing job of --stack on the training image")
    prepare.add_argument("--stack", help="the stack whose image, role, network and buckets the job uses")
    prepare.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local processes")
    prepare.add_argument("--instances", type=int, default=1, help="SageMaker instances (input split by S3 key)")
    prepare.add_argument("--instance-type", default="ml.m5.2xlarge", help="SageMaker Processing instance type")
    prepare.add_argument("--tokenizer", choices=("byte", "bpe"), default="byte", help="byte-level or trained BPE")
    prepare.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary size")
    prepare.add_argument("--shard-tokens", type=int, default=1 << 24, help="tokens per shard")
    prepare.add_argument("--min-chars", type=int, default=1, help="drop shorter cleaned documents")
    prepare.add_argument("--max-chars", type=int, default=1_000_000, help="drop longer cleaned documents")
    prepare.add_argument("--text-field", default="text", help="the JSON lines field holding the text")
    prepare.add_argument("--dry-run", action="store_true", help="sagemaker: print the request, send nothing")
    add_outputs_source(prepare)
    prepare.set_defaults(run=_data_prepare)

    optimize = commands.add_parser("optimize", help="optimise a model artifact for CPU (int8) or GPU (bf16)")
    optimize.add_argument("--model", required=True, help="model.tar.gz (path or s3://) or an unpacked artifact")
    optimize.add_argument("--output", required=True, help="directory or s3:// prefix for the optimised artifact")
    optimize.add_argument("--target", required=True, choices=("cpu", "gpu"), help="cpu: int8 weights; gpu: bf16")
    optimize.add_argument("--bits", type=int, default=8, help="cpu: bits per weight (default 8)")
    optimize.add_argument("--max-accuracy-drop", type=float, default=1.0,
                          help="refuse (exit 3) when exact match falls by more points than this")
    optimize.add_argument("--problems", type=int, default=500, help="held-out problems to score")
    optimize.set_defaults(run=_optimize)

    local = commands.add_parser("local", help="the whole lifecycle on this machine: plan, train, serve, invoke")
    local.add_argument("--workdir", help="where the run writes everything (default: runs/local/<time>)")
    local.add_argument("--steps", type=int, help="training steps (default: the cpu_debug recipe's)")
    local.add_argument("--nproc", type=int, default=2, help="training worker processes (default: 2)")
    local.add_argument("--seed", type=int, default=0, help="seed of the weights, data and held-out problems")
    local.add_argument("--problems", type=int, default=200, help="held-out problems sent to the server")
    local.add_argument("--clients", type=int, default=8, help="concurrent clients sending them")
    local.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a training setting")
    local.set_defaults(run=_local)

    policy_config = commands.add_parser("policy-config", help="the policy pack's configuration for a stack "
                                                              "(for pulumi's --policy-pack-config)")
    policy_config.add_argument("--stack", required=True, help="stack name")
    policy_config.set_defaults(run=_policy_config)

    train = commands.add_parser("train", help="run a training job: locally, on the stack's cluster, or on SageMaker")
    train.add_argument("action", nargs="?", choices=("run", "status", "logs"), default="run",
                       help="run (default) a job; or, on eks, show a job's status or follow its first node's log")
    train.add_argument("--backend", choices=("local", "eks", "sagemaker"), required=True,
                       help="local: torchrun workers here, through the training image's entrypoint; "
                            "eks: a Kubeflow TrainJob on a GPU pool of --stack's cluster; "
                            "sagemaker: the training image as a SageMaker training job of --stack")
    train.add_argument("--pool", help="eks: the GPU pool (stack config gpu_pools) the job runs on")
    train.add_argument("--nodes", type=int, default=1, help="eks: nodes, each with all its GPUs (default: 1)")
    efa = train.add_mutually_exclusive_group()
    efa.add_argument("--efa", action="store_true", default=None, help="eks: use EFA (default: when the pool has it)")
    efa.add_argument("--no-efa", dest="efa", action="store_false", help="eks: leave EFA out on an EFA pool")
    train.add_argument("--name", help="eks: the TrainJob's name (default: <stack>-<time>); status and logs need it")
    train.add_argument("--data", metavar="PREFIX", help="eks: token shards under this prefix of the datasets bucket "
                                                        "(through /fsx where the stack has FSx)")
    train.add_argument("--follow", action="store_true", help="eks logs: keep streaming until the pod ends")
    train.add_argument("--stack", help="the stack whose image, role, network and buckets a cloud job uses")
    train.add_argument("--recipe", help="training recipe (default: cpu_debug locally, the stack's in the cloud)")
    train.add_argument("--nproc", type=int, default=2, help="local worker processes (default: 2)")
    train.add_argument("--workdir", help="where a local run writes everything (default: runs/train/<time>)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a training setting")
    train.add_argument("--dry-run", action="store_true", help="cloud backends: print the request, send nothing")
    add_outputs_source(train)
    train.set_defaults(run=_train)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from infra.build import BuildError
    from infra.deploy import DeployError

    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"hoist: error: {exc}", file=sys.stderr)
        return 2
    except (BuildError, DeployError) as exc:
        print(f"hoist: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # The `running` blocks have already stopped every child process on the way out.
        print("hoist: interrupted; every child process was stopped", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
