"""The `hoist` command: the parser and the dispatch, nothing else.

Each command names its handler as ``module:function`` under ``hoist.commands``; the module is
imported only when that command runs, so `hoist --help` never imports Pulumi, torch or boto3.
Errors end the command with one line: a request that cannot be used exits 2, a step that failed 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence


def _outputs_source(command: argparse.ArgumentParser, *, offline: bool = True) -> None:
    source = command.add_mutually_exclusive_group()
    source.add_argument("--outputs", metavar="FILE", help="read stack outputs from a JSON file")
    if offline:
        source.add_argument("--offline", action="store_true", help="use the offline plan's outputs (dry runs)")


def _job_inputs(command: argparse.ArgumentParser, data_help: str) -> None:
    command.add_argument("--data", metavar="PREFIX", help=data_help)
    command.add_argument("--base-model", metavar="PREFIX",
                         help="a Hugging Face checkpoint under base/ in the stack's models bucket to fine-tune "
                              "(with --data prepared with its tokenizer)")


def _training_settings(command: argparse.ArgumentParser, recipe_default: str) -> None:
    command.add_argument("--recipe", help=f"training recipe (default: {recipe_default})")
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="a training setting (repeatable); checked before anything runs or is sent")


def _add_plan(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser("plan", help="plan a stack offline: resources, policy report, monthly cost")
    plan.add_argument("--stack", required=True,
                      help="stack name (a file stacks/Pulumi.<stack>.yaml), or 'all' for every stack")
    plan.add_argument("--json", action="store_true",
                      help="machine-readable output (with --diff: the diff as a JSON document)")
    plan.add_argument("--diff", metavar="REF",
                      help="compare with the stack at git revision REF: cost by line, permissions, replacements, "
                           "GPU drains and endpoint rollouts, as the pull-request comment (Markdown)")
    plan.add_argument("--preview", action="store_true",
                      help="plan as `pulumi preview` of a new stack sees it: computed values unknown")
    plan.set_defaults(handler="plan:plan")

    policy_config = commands.add_parser("policy-config", help="the policy pack's configuration for a stack "
                                                              "(for pulumi's --policy-pack-config)")
    policy_config.add_argument("--stack", required=True, help="stack name")
    policy_config.set_defaults(handler="plan:policy_config")

    outputs = commands.add_parser("outputs", help="show a stack's typed outputs, as the other commands see them")
    outputs.add_argument("--stack", required=True, help="stack name")
    _outputs_source(outputs)
    outputs.set_defaults(handler="outputs:outputs")


def _add_release(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = commands.add_parser("build", help="build both images with docker buildx, push them, print digests")
    build.add_argument("--stack", default="dev", help="the stack whose registry receives the images (default: dev)")
    _outputs_source(build)
    build.add_argument("--tag", help="image tag (default: git-<commit>; tags are immutable)")
    build.add_argument("--serving", choices=("gpu", "cpu"), default="gpu",
                       help="build the serving image for GPU (CUDA base) or CPU instances")
    build.add_argument("--platform", default="linux/amd64", help="target platform (default: linux/amd64)")
    build.add_argument("--dry-run", action="store_true", help="print the buildx commands; build nothing")
    build.add_argument("--write-config", action="store_true",
                       help="also write the digests into the stack's hoist:images")
    build.set_defaults(handler="build:build")

    deploy = commands.add_parser("deploy", help="check a model artifact and promote it to a stack's endpoint")
    deploy.add_argument("--stack", required=True, help="stack name")
    deploy.add_argument("--model-uri", required=True, help="s3://<stack's models bucket>/<key>.tar.gz")
    deploy.add_argument("--model", metavar="NAME",
                        help="the model of a shared endpoint (hoist:inference_components.models) to promote")
    deploy.add_argument("--image-digest", help="serving image digest (sha256:...) to promote with the model")
    deploy.add_argument("--sample", default='{"inputs": ["1+2"]}',
                        help="JSON request the handler must answer before the promotion is written")
    deploy.add_argument("--apply", action="store_true",
                        help="also run pulumi up and follow the rollout (only where hoist:endpoint.allow_apply)")
    _outputs_source(deploy)
    deploy.set_defaults(handler="deploy:deploy")

    invoke = commands.add_parser("invoke", help="call a stack's endpoint once and print the answer and latency")
    invoke.add_argument("--stack", required=True, help="stack name")
    invoke.add_argument("--body", required=True, help="JSON request body, or @file")
    invoke.add_argument("--model", metavar="NAME",
                        help="the model of a shared endpoint to call (its inference component)")
    invoke.add_argument("--content-type", default="application/json", help="request content type")
    invoke.add_argument("--accept", default="application/json", help="accepted response type")
    invoke.add_argument("--stream", action="store_true",
                        help="stream an LLM's answer (an OpenAI chat or completion body) as its tokens arrive")
    invoke.add_argument("--wait-for-capacity", type=int, default=900, metavar="SECONDS",
                        help="how long to wait for a model that has scaled to zero while SageMaker starts a copy "
                             "(default: 900; 0: fail at once)")
    _outputs_source(invoke)
    invoke.set_defaults(handler="deploy:invoke")


def _add_stages(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _outputs_source(prepare)
    prepare.set_defaults(handler="data:prepare")

    optimize = commands.add_parser("optimize", help="optimise a model: the classic one for CPU or GPU, an LLM by "
                                                     "quantising it, refused if it loses accuracy")
    optimize.add_argument("--model", required=True, help="model.tar.gz (path or s3://), an unpacked artifact, or an "
                                                         "LLM artifact (directory or s3:// prefix)")
    optimize.add_argument("--output", required=True, help="directory or s3:// prefix for the optimised artifact")
    optimize.add_argument("--target", choices=("cpu", "gpu"), help="classic model: cpu (int8 weights) or gpu (bf16)")
    optimize.add_argument("--scheme", choices=("w8a8", "w4a16", "fp8-dynamic"),
                          help="LLM: the compressed-tensors scheme the engine runs natively")
    optimize.add_argument("--bits", type=int, default=8, help="classic cpu: bits per weight (default 8)")
    optimize.add_argument("--max-accuracy-drop", type=float, default=1.0,
                          help="refuse (exit 3) when exact match falls by more points than this")
    optimize.add_argument("--problems", type=int, default=500, help="classic: held-out problems to score")
    optimize.add_argument("--questions", metavar="FILE",
                          help="LLM: held-out JSON lines {question, answer} scored through the engine")
    optimize.add_argument("--heldout", metavar="SHARDS", help="LLM: held-out shards for perplexity")
    optimize.add_argument("--calibration", metavar="SHARDS",
                          help="LLM: shards prepared with the model's tokenizer (w8a8, w4a16)")
    optimize.add_argument("--max-perplexity-rise", type=float, default=10.0,
                          help="LLM: refuse (exit 3) when held-out perplexity rises by more percent than this")
    optimize.set_defaults(handler="optimize:optimize")

    local = commands.add_parser("local", help="the whole lifecycle on this machine: plan, train, serve, invoke")
    local.add_argument("--workdir", help="where the run writes everything (default: runs/local/<time>)")
    local.add_argument("--steps", type=int, help="training steps (default: the cpu_debug recipe's)")
    local.add_argument("--nproc", type=int, default=2, help="training worker processes (default: 2)")
    local.add_argument("--seed", type=int, default=0, help="seed of the weights, data and held-out problems")
    local.add_argument("--problems", type=int, default=200, help="held-out problems sent to the server")
    local.add_argument("--clients", type=int, default=8, help="concurrent clients sending them")
    local.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a training setting of the classic lane")
    local.add_argument("--lanes", default="classic,llm",
                       help="which lanes run: classic (the reference model), llm (a Hugging Face model)")
    local.add_argument("--base", metavar="DIR", help="llm lane: the checkpoint to fine-tune (default: a tiny "
                                                     "Llama built here)")
    local.add_argument("--llm-steps", type=int, help="llm lane: fine-tuning steps (default: the cpu_llm recipe's)")
    local.set_defaults(handler="local:local")


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser("train", help="run a training job here, on a stack's cluster, or on SageMaker")
    backends = train.add_subparsers(dest="train_command", required=True, metavar="{local,eks,sagemaker,status,logs}")

    local = backends.add_parser("local", help="torchrun workers here, through the training image's entrypoint")
    _training_settings(local, "cpu_debug")
    local.add_argument("--nproc", type=int, default=2, help="worker processes (default: 2)")
    local.add_argument("--workdir", help="where the run writes everything (default: runs/train/<time>)")
    local.set_defaults(handler="train:local")

    eks = backends.add_parser("eks", help="a Kubeflow TrainJob on a GPU pool of --stack's cluster")
    eks.add_argument("--stack", required=True, help="the stack whose cluster, image and buckets the job uses")
    eks.add_argument("--pool", required=True, help="the GPU pool the job runs on (from the stack's outputs)")
    eks.add_argument("--nodes", type=int, default=1, help="nodes, each with all its GPUs (default: 1)")
    efa = eks.add_mutually_exclusive_group()
    efa.add_argument("--efa", action="store_true", default=None, help="use EFA (default: when the pool has it)")
    efa.add_argument("--no-efa", dest="efa", action="store_false", help="leave EFA out on an EFA pool")
    eks.add_argument("--name", help="the TrainJob's name (default: hoist-<stack>-train-<time>)")
    _job_inputs(eks, "token shards under this prefix of the datasets bucket (through /fsx where the stack has FSx)")
    _training_settings(eks, "the stack's training_jobs.recipe")
    eks.add_argument("--dry-run", action="store_true", help="print the TrainJob, send nothing")
    _outputs_source(eks)
    eks.set_defaults(handler="train:eks_job")

    sagemaker = backends.add_parser("sagemaker", help="the training image as a SageMaker training job of --stack")
    sagemaker.add_argument("--stack", required=True, help="the stack whose image, role, network and buckets "
                                                          "the job uses")
    _job_inputs(sagemaker, "token shards under this prefix of the datasets bucket (read from S3 by the trainer)")
    _training_settings(sagemaker, "the stack's training_jobs.recipe")
    sagemaker.add_argument("--dry-run", action="store_true", help="print the request, send nothing")
    _outputs_source(sagemaker)
    sagemaker.set_defaults(handler="train:sagemaker_job")

    for action, help_text in (("status", "a cluster TrainJob's conditions and pods"),
                              ("logs", "the log of a cluster TrainJob's first node")):
        follow = backends.add_parser(action, help=help_text)
        follow.add_argument("--stack", required=True, help="the stack whose cluster runs the job")
        follow.add_argument("--name", required=True, help="the TrainJob's name")
        if action == "logs":
            follow.add_argument("--follow", action="store_true", help="keep streaming until the pod ends")
        _outputs_source(follow, offline=False)
        follow.set_defaults(handler=f"train:{action}")


def _add_cluster(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = commands.add_parser("cluster", help="check a stack's GPU cluster")
    actions = cluster.add_subparsers(dest="cluster_command", required=True, metavar="{check}")
    check = actions.add_parser("check", help="GPU health, NCCL transport and all-reduce bus bandwidth on a pool, "
                                             "as a TrainJob; fails below the catalog's floor or off EFA")
    check.add_argument("--stack", required=True, help="the stack whose cluster and training image the check uses")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--pool", help="the GPU pool to check (from the stack's outputs)")
    which.add_argument("--efa-pools", action="store_true",
                       help="check every deployed EFA pool in turn (none: nothing to check); what deploys run")
    check.add_argument("--nodes", type=int, default=2, help="nodes, each with all its GPUs (default: 2; the "
                                                            "bandwidth floor applies from 2)")
    check.add_argument("--name", help="the TrainJob's name (default: hoist-<stack>-check-<time>; with "
                                      "--efa-pools, the pool's name is appended)")
    check.add_argument("--timeout-minutes", type=float, default=45.0,
                       help="give up waiting after this long (default: 45; nodes start from zero)")
    check.add_argument("--keep", action="store_true", help="leave the finished TrainJob for inspection")
    check.add_argument("--dry-run", action="store_true", help="print the TrainJob, send nothing")
    _outputs_source(check)
    check.set_defaults(handler="cluster:check")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hoist", description="Take large models from code to cloud on AWS.")
    commands = root.add_subparsers(dest="command", required=True)
    _add_plan(commands)
    _add_release(commands)
    _add_stages(commands)
    _add_train(commands)
    _add_cluster(commands)
    return root


def handler(target: str) -> Callable[[argparse.Namespace], int]:
    """The function a command names: ``module:function`` under ``hoist.commands``."""
    module, _, function = target.partition(":")
    run: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(f"hoist.commands.{module}"), function)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from hoist.errors import CommandFailed
    from infra.stack_files import ConfigError
    from training.config import TrainConfigError

    try:
        return handler(args.handler)(args)
    except (ConfigError, TrainConfigError) as exc:
        print(f"hoist: error: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"hoist: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # The `running` blocks have already stopped every child process on the way out.
        print("hoist: interrupted; every child process was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
