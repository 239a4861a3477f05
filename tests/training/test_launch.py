"""The launcher under each platform's contract (pure), and a real 2-worker run through it."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.training.runner import events, launch, result_of
from training.launch import LaunchError, plan_launch

NO_OPT_ML = Path("/nonexistent-opt-ml")


def test_laptop_uses_nproc_and_standalone_rendezvous() -> None:
    plan = plan_launch(["--nproc", "2", "--recipe", "cpu_debug", "--set", "steps=5"], {}, NO_OPT_ML)
    assert (plan.platform, plan.nnodes, plan.nproc_per_node) == ("local", 1, 2)
    assert plan.torchrun_args() == ["--standalone", "--nnodes", "1", "--nproc-per-node", "2", "--max-restarts", "3",
                                    "-m", "training", "--recipe", "cpu_debug", "--set", "steps=5"]


def test_torchrun_variables() -> None:
    env = {"NNODES": "4", "NODE_RANK": "2", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "23456", "NPROC_PER_NODE": "8"}
    plan = plan_launch(["--max-restarts", "1"], env, NO_OPT_ML)
    assert plan.torchrun_args()[:12] == ["--nnodes", "4", "--node-rank", "2", "--master-addr", "10.0.0.5",
                                         "--master-port", "23456", "--nproc-per-node", "8", "--max-restarts", "1"]


def test_kubeflow_pet_variables() -> None:
    env = {"PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_MASTER_ADDR": "job-master-0", "PET_MASTER_PORT": "23456",
           "PET_NPROC_PER_NODE": "auto"}
    plan = plan_launch(["--nproc", "8"], env, NO_OPT_ML)
    assert (plan.platform, plan.nnodes, plan.node_rank, plan.master_addr, plan.master_port,
            plan.nproc_per_node) == ("kubeflow", 2, 1, "job-master-0", 23456, 8)


def _opt_ml(root: Path, hosts: list[str], current: str, hyper: dict[str, str]) -> Path:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": current, "hosts": hosts,
                                                            "network_interface_name": "eth0"}))
    (config / "hyperparameters.json").write_text(json.dumps(hyper))
    return root


def test_sagemaker_two_hosts_ignores_train_and_maps_hyperparameters(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path, ["algo-2", "algo-1"], "algo-2",
                   {"recipe": "cpu_debug", "steps": "50", "nproc": "4", "max_restarts": "2",
                    "checkpoint_uri": "s3://ckpt/sagemaker/job/"})
    plan = plan_launch(["train"], {}, root)
    assert (plan.platform, plan.nnodes, plan.node_rank, plan.master_addr, plan.nproc_per_node,
            plan.max_restarts) == ("sagemaker", 2, 1, "algo-1", 4, 2)
    args = plan.train_args
    assert args[:2] == ["--recipe", "cpu_debug"] and "train" not in args
    assert f"sagemaker_model_dir={root / 'model'}" in args and "steps=50" in args
    assert "nproc=4" not in args and "recipe=cpu_debug" not in args
    # Defaults come first, so a hyperparameter can override them (the last --set wins).
    assert args.index(f"checkpoint_uri={root / 'checkpoints'}") < args.index("steps=50")


@pytest.mark.parametrize(("env", "message"), [
    ({"PET_NNODES": "2", "PET_MASTER_ADDR": "m", "PET_NODE_RANK": "2"}, "PET_NODE_RANK=2: must be below PET_NNODES=2"),
    ({"NNODES": "two", "MASTER_ADDR": "m"}, "NNODES='two': expected an integer"),
])
def test_bad_platform_variables_are_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        plan_launch([], env, NO_OPT_ML)


@pytest.mark.parametrize("checkpoint", [None, "/opt/ml/checkpoints", "/tmp/ckpt"])
def test_multi_node_sagemaker_checkpoints_must_go_straight_to_s3(tmp_path: Path, checkpoint: str | None) -> None:
    """SageMaker copies /opt/ml/checkpoints to S3 asynchronously and back only when a job starts. After an
    in-job restart (torchrun --max-restarts) the other nodes lack rank 0's .metadata and latest, and rank 0's
    completeness marker can reach S3 before their shards: every node must read and write one s3:// prefix."""
    hyper = {"recipe": "cpu_debug"} | ({"checkpoint_uri": checkpoint} if checkpoint else {})
    root = _opt_ml(tmp_path, ["algo-1", "algo-2"], "algo-1", hyper)
    with pytest.raises(LaunchError, match="2 hosts need checkpoint_uri=s3://") as error:
        plan_launch(["train"], {}, root)
    assert "\n" not in str(error.value)


def test_single_node_sagemaker_may_checkpoint_locally(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path, ["algo-1"], "algo-1", {"recipe": "cpu_debug"})
    assert f"checkpoint_uri={root / 'checkpoints'}" in plan_launch(["train"], {}, root).train_args


def test_sagemaker_current_host_must_be_listed(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path, ["algo-1"], "algo-9", {})
    with pytest.raises(LaunchError, match="current_host 'algo-9' is not among hosts"):
        plan_launch(["train"], {}, root)


@pytest.mark.slow
def test_two_workers_lower_the_loss_and_write_checkpoints_and_artifact(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = result_of(launch("--nproc", "2", "--set", "steps=100", "--set", "checkpoint_every=50",
                              "--set", f"output_dir={out}", "--set", "progress=false", "--set", "eval_problems=20"))
    assert result["final_loss"] < 0.6 * result["first_loss"]
    assert events(out, "start")[0]["world_size"] == 2
    checkpoints = out / "checkpoints"
    assert (checkpoints / "latest").read_text().strip() == "step-00000100"
    assert sorted(p.name for p in checkpoints.glob("step-*")) == ["step-00000050", "step-00000100"]
    assert all((p / ".metadata").exists() for p in checkpoints.glob("step-*"))
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with tarfile.open(out / "artifact" / "model.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"model.safetensors", "config.json", "code/inference.py", "code/gpt_model.py",
            "code/addition_task.py"} <= names


@pytest.mark.slow
def test_sagemaker_entrypoint_writes_the_unpacked_layout(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path / "opt_ml", ["algo-1"], "algo-1",
                   {"recipe": "cpu_debug", "steps": "10", "nproc": "2", "n_layer": "1", "n_embd": "32",
                    "n_head": "2", "eval_problems": "10"})
    result = result_of(launch("train", env={"HOIST_OPT_ML": str(root)}))
    model_dir = root / "model"
    assert result["artifact"] == str(model_dir)
    assert {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()} == {
        "model.safetensors", "config.json", "code/inference.py", "code/gpt_model.py", "code/addition_task.py"}
    assert (root / "checkpoints" / "latest").read_text().strip() == "step-00000010"
    assert not (model_dir / "model.tar.gz").exists()


