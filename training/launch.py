"""The training image's entrypoint: ``python -m training.launch [train] [--nproc N] [--recipe R] [--set k=v]``.

It works out the cluster shape from whichever platform started it and execs torchrun, which runs
``python -m training`` on every worker and restarts them all (up to ``--max-restarts``) when one
fails; the trainer then resumes from the newest complete checkpoint.

Platforms, in the order they are recognised:

- SageMaker training: ``/opt/ml/input/config/resourceconfig.json`` (``current_host``, ``hosts``) and
  ``hyperparameters.json``. SageMaker sets no ``SM_*`` variables for a custom image and passes the
  argument ``train``, which is ignored. The artifact goes unpacked to ``/opt/ml/model``.
- Kubeflow (PyTorchJob / TrainJob torch runtime): ``PET_NNODES``, ``PET_NODE_RANK``,
  ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``, ``PET_NPROC_PER_NODE``.
- Any launcher that sets torchrun's variables: ``NNODES``, ``NODE_RANK``, ``MASTER_ADDR``,
  ``MASTER_PORT`` (``NPROC_PER_NODE`` optional).
- A laptop: one node, ``--nproc N`` processes (default: one per GPU, else 1).

``HOIST_OPT_ML`` moves the ``/opt/ml`` root (tests use a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.config import DEFAULT_RECIPE, TrainConfigError, as_arguments

DEFAULT_MASTER_PORT = 29500
DEFAULT_MAX_RESTARTS = 3
# Hyperparameters the launcher itself consumes; every other one becomes a `--set key=value`.
LAUNCHER_HYPERPARAMETERS = ("recipe", "nproc", "max_restarts", "master_port")


class LaunchError(ValueError):
    """The platform's description of the job cannot be used; one line for the job's log."""


@dataclass(frozen=True)
class LaunchPlan:
    platform: str
    nnodes: int
    node_rank: int
    nproc_per_node: int
    master_addr: str
    master_port: int
    max_restarts: int
    train_args: list[str] = field(default_factory=list)
    module: str = "training"
    """What every worker runs: the trainer, or another entry point such as ``training.netcheck``."""

    def torchrun_args(self) -> list[str]:
        common = ["--nproc-per-node", str(self.nproc_per_node), "--max-restarts", str(self.max_restarts)]
        if self.nnodes == 1:
            # --standalone picks a free port, so several local jobs never collide.
            topology = ["--standalone", "--nnodes", "1"]
        else:
            topology = ["--nnodes", str(self.nnodes), "--node-rank", str(self.node_rank),
                        "--master-addr", self.master_addr, "--master-port", str(self.master_port)]
        return [*topology, *common, "-m", self.module, *self.train_args]


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise LaunchError(f"{what}={value!r}: expected an integer") from None


def _gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def _sagemaker(root: Path) -> tuple[dict[str, object], dict[str, str]] | None:
    config = root / "input" / "config"
    resource = config / "resourceconfig.json"
    if not resource.exists():
        return None
    try:
        resources = json.loads(resource.read_text())
        hyper_file = config / "hyperparameters.json"
        hyperparameters = json.loads(hyper_file.read_text()) if hyper_file.exists() else {}
    except json.JSONDecodeError as exc:
        raise LaunchError(f"{resource.parent}: invalid JSON ({exc.msg})") from None
    return resources, {str(k): str(v) for k, v in hyperparameters.items()}


def plan_launch(argv: Sequence[str], env: Mapping[str, str], opt_ml: Path) -> LaunchPlan:
    """Decide how to run torchrun from the arguments, the environment and the /opt/ml files."""
    args = list(argv)
    if args[:1] == ["train"]:
        args = args[1:]  # SageMaker runs the image with the argument "train"
    parser = argparse.ArgumentParser(prog="python -m training.launch", add_help=True)
    parser.add_argument("--nproc", type=int, help="processes per node (default: one per GPU, else 1)")
    parser.add_argument("--max-restarts", type=int, help="restarts of the whole job after a worker fails")
    own, train_args = parser.parse_known_args(args)

    restarts = own.max_restarts if own.max_restarts is not None else \
        _int(env.get("HOIST_MAX_RESTARTS", str(DEFAULT_MAX_RESTARTS)), "HOIST_MAX_RESTARTS")
    gpus = _gpus()

    sagemaker = _sagemaker(opt_ml)
    if sagemaker is not None:
        resources, hyper = sagemaker
        hosts = sorted(str(h) for h in resources.get("hosts", []))  # type: ignore[attr-defined]
        current = str(resources.get("current_host", ""))
        if current not in hosts:
            raise LaunchError(f"resourceconfig.json: current_host {current!r} is not among hosts {hosts}")
        defaults = [f"sagemaker_model_dir={opt_ml / 'model'}", f"checkpoint_uri={opt_ml / 'checkpoints'}",
                    f"output_dir={opt_ml / 'output' / 'data'}", "progress=false"]
        overrides = [f"{k}={v}" for k, v in sorted(hyper.items()) if k not in LAUNCHER_HYPERPARAMETERS]
        try:
            settings = as_arguments(hyper.get("recipe", DEFAULT_RECIPE), defaults + overrides)
        except TrainConfigError as exc:
            raise LaunchError(f"hyperparameters.json: {exc}") from None
        checkpoints = str(hyper.get("checkpoint_uri", ""))
        if len(hosts) > 1 and not checkpoints.startswith("s3://"):
            # SageMaker's /opt/ml/checkpoints sync is per node, asynchronous, and copied back only at job start:
            # after an in-job restart other nodes would lack rank 0's files, or see its marker before their shards.
            raise LaunchError(f"hyperparameters.json: {len(hosts)} hosts need checkpoint_uri=s3://... so that every "
                              f"node sees one complete checkpoint; got {checkpoints or 'none (/opt/ml/checkpoints)'}")
        nproc = own.nproc or (_int(hyper["nproc"], "nproc") if "nproc" in hyper else gpus or 1)
        if "max_restarts" in hyper:
            restarts = _int(hyper["max_restarts"], "max_restarts")
        return LaunchPlan(platform="sagemaker", nnodes=len(hosts), node_rank=hosts.index(current),
                          nproc_per_node=nproc, master_addr=hosts[0],
                          master_port=_int(hyper.get("master_port", str(DEFAULT_MASTER_PORT)), "master_port"),
                          max_restarts=restarts, train_args=[*settings, *train_args])

    for platform, prefix in (("kubeflow", "PET_"), ("torchrun", "")):
        if f"{prefix}NNODES" in env and f"{prefix}MASTER_ADDR" in env:
            declared = env.get(f"{prefix}NPROC_PER_NODE", "")
            nproc = own.nproc or (int(declared) if declared.isdigit() else gpus or 1)
            nnodes = _int(env[f"{prefix}NNODES"].split(":")[-1], f"{prefix}NNODES")
            node_rank = _int(env.get(f"{prefix}NODE_RANK", "0"), f"{prefix}NODE_RANK")
            if not 0 <= node_rank < nnodes:
                raise LaunchError(f"{prefix}NODE_RANK={node_rank}: must be below {prefix}NNODES={nnodes}")
            return LaunchPlan(platform=platform, nnodes=nnodes, node_rank=node_rank, nproc_per_node=nproc,
                              master_addr=env[f"{prefix}MASTER_ADDR"],
                              master_port=_int(env.get(f"{prefix}MASTER_PORT", str(DEFAULT_MASTER_PORT)),
                                               f"{prefix}MASTER_PORT"),
                              max_restarts=restarts, train_args=train_args)

    return LaunchPlan(platform="local", nnodes=1, node_rank=0, nproc_per_node=own.nproc or gpus or 1,
                      master_addr="127.0.0.1", master_port=DEFAULT_MASTER_PORT, max_restarts=restarts,
                      train_args=train_args)


def worker_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment torchrun and its workers run with.

    When torchrun shares its rendezvous store with the workers' process group, a restarted attempt
    can read the previous attempt's peer addresses and hang or fail while connecting
    (pytorch/pytorch#135712; seen here with gloo after a SIGKILLed worker). A store per attempt
    makes restarts reliable.
    """
    return {**env, "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": env.get("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")}


def main() -> None:
    try:
        plan = plan_launch(sys.argv[1:], os.environ, Path(os.environ.get("HOIST_OPT_ML", "/opt/ml")))
    except LaunchError as exc:
        print(f"training.launch: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"training.launch: {plan.platform}: {plan.nnodes} node(s), node rank {plan.node_rank}, "
          f"{plan.nproc_per_node} process(es) per node, up to {plan.max_restarts} restart(s)", flush=True)
    argv = [sys.executable, "-m", "torch.distributed.run", *plan.torchrun_args()]
    os.execve(sys.executable, argv, worker_environment(os.environ))  # noqa: S606 - our argv, no shell


if __name__ == "__main__":
    main()
