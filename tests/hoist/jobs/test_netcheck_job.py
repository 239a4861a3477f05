"""`hoist cluster check`: the netcheck TrainJob it builds per pool, checked against the Trainer API and
the Kubernetes schema; and the run (submit, wait, read rank 0's result, delete, report) against a local
stand-in for the API server, with a result line printed by the netcheck's own reporter."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from hoist import outputs
from hoist.cli import main
from hoist.errors import CommandFailed
from hoist.jobs import api_checks, eks, netcheck
from infra.kube.training_runtime import training_runtime
from infra.stack_files import ConfigError, load_stack
from tests.conftest import planned
from tests.hoist.jobs import kube_stand_in
from tests.hoist.jobs.kube_stand_in import KubeApi
from tests.training import nccl_logs
from training.netcheck import health, transport
from training.netcheck.__main__ import _report
from training.netcheck.bandwidth import bandwidth_failure, row


def dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["cluster", "check", "--dry-run", *argv]) == 0
    job: dict[str, Any] = yaml.safe_load(capsys.readouterr().out)
    return job


def test_an_efa_pool_is_checked_for_efa_and_its_floor_on_two_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "prod", "--pool", "h100-efa", "--nodes", "2", "--name", "check-1")
    trainer = job["spec"]["trainer"]
    assert trainer["command"] == ["python", "-m", "training.netcheck"]
    assert trainer["args"] == ["--report-only", "--expect-gpus", "8", "--min-busbw", "240", "--require-efa"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 8)
    assert trainer["resourcesPerNode"]["requests"]["vpc.amazonaws.com/efa"] == "32"
    assert {"name": "NCCL_NET", "value": "AWS Libfabric"} in trainer["env"]
    assert job["metadata"]["labels"]["hoist.dev/check"] == "netcheck"
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "h100-efa"
    assert job["spec"]["activeDeadlineSeconds"] == 3600


def test_one_node_has_no_floor_but_still_needs_efa(capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "prod", "--pool", "h100-efa", "--nodes", "1")
    assert job["spec"]["trainer"]["args"] == ["--report-only", "--expect-gpus", "8", "--require-efa"]


def test_a_pool_without_efa_checks_gpus_and_reports_bandwidth_only(capsys: pytest.CaptureFixture[str]) -> None:
    job = dry_run(capsys, "--stack", "prod", "--pool", "a10g-spot", "--nodes", "2")
    assert job["spec"]["trainer"]["args"] == ["--report-only", "--expect-gpus", "4"]
    assert "env" not in job["spec"]["trainer"]


def test_every_pools_check_matches_the_apis(stack: str) -> None:
    cfg = load_stack(stack)
    stack_outputs = outputs.from_mapping(planned(stack).outputs, "plan")
    for pool_name, pool in cfg.gpu_pools.items():
        job = netcheck.check_job(cfg, stack_outputs, netcheck.CheckRequest(name="c", pool=pool_name, nodes=1))
        assert api_checks.trainer_api_errors(job, "TrainJob") == []
        runtime = training_runtime("training", cfg.cluster, stack_outputs.images["training"])
        pod = api_checks.node_pod(runtime, job)
        assert api_checks.kubernetes_errors(pod, cfg.cluster.kubernetes_version) == []
        assert pod["spec"]["containers"][0]["command"] == ["python", "-m", "training.netcheck"]
        assert ("--require-efa" in job["spec"]["trainer"]["args"]) is pool.efa


def test_a_job_the_trainer_api_would_refuse_is_refused() -> None:
    cfg = load_stack("prod")
    stack_outputs = outputs.from_mapping(planned("prod").outputs, "plan")
    job = netcheck.check_job(cfg, stack_outputs, netcheck.CheckRequest(name="c", pool="h100-efa", nodes=2))
    job["spec"]["trainer"]["numProcsPerNode"] = 8  # a misspelt field
    with pytest.raises(ConfigError, match="numProcsPerNode"):
        eks.check_job(job, cfg, eks.cluster_of(stack_outputs), stack_outputs.images["training"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--pool", "h200"], "--pool 'h200': no such GPU pool; allowed: a10g-spot, h100-efa"),
    (["--pool", "h100-efa", "--nodes", "3"], "--nodes 3: pool 'h100-efa' holds at most 16 GPUs, 8 per node"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["cluster", "check", "--stack", "prod", "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def result_line(busbw_time_s: float, capsys: pytest.CaptureFixture[str], *, floor: float = 240.0) -> str:
    """What rank 0 of a 2-node p5 run prints, by the netcheck's own reporter."""
    rows = [row(1 << 30, 4, [busbw_time_s] * 16, 0)]
    transports = [transport.parse(nccl_logs.EFA_OLD_PLUGIN.splitlines())] * 16
    checks = [health.Health(host=f"node-{r // 8}", rank=r, device=f"cuda:{r % 8} NVIDIA H100 80GB HBM3",
                            gpus_on_node=8) for r in range(16)]
    _report(rows, transports, checks, bandwidth_failure(rows, floor), backend="nccl",
            args=argparse.Namespace(min_busbw=floor, require_efa=True))
    return capsys.readouterr().out


class CheckApi(KubeApi):
    """The check's job, its rank-0 pod and that pod's log; tests set the log and the job's end state."""

    pod = "check-node-0-0"
    pod_phase = "Succeeded"
    conditions: ClassVar[list[dict[str, str]]] = [{"type": "Complete", "status": "True"}]


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Path]:
    """A deployed prod stack's outputs whose kubeconfig points at the stand-in API server."""
    CheckApi.conditions = [{"type": "Complete", "status": "True"}]
    with kube_stand_in.serving(CheckApi) as url:
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps({**planned("prod").outputs, "kubeconfig": kube_stand_in.kubeconfig(url)}))
        yield path


def _check(deployed: Path) -> int:
    return main(["cluster", "check", "--stack", "prod", "--pool", "h100-efa", "--nodes", "2", "--name", "check",
                 "--outputs", str(deployed)])


def test_a_healthy_pool_passes_and_its_job_is_deleted(deployed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    CheckApi.log = "training.netcheck: kubeflow: 2 node(s)\n" + result_line(0.003, capsys)  # 671 GB/s busbw
    assert _check(deployed) == 0
    out = capsys.readouterr().out
    assert "pool h100-efa (p5.48xlarge): 2 node(s), 16 rank(s), backend nccl" in out
    assert "1073741824" in out and "671.09" in out  # 1 GiB in 3 ms: algbw 357.9, busbw x1.875
    assert "net  rank 0: network AWS Libfabric, provider efa, between nodes: AWS Libfabric" in out
    assert "floor: 240 GB/s" in out and out.rstrip().endswith("PASS")
    methods = [m for m, _, _ in CheckApi.requests]
    assert methods[0] == "POST" and methods[-1] == "DELETE"
    assert CheckApi.requests[-1][1].endswith("/trainjobs/check")


def test_bandwidth_below_the_floor_fails_the_command_with_one_line(
        deployed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    CheckApi.log = result_line(0.02, capsys)  # 1 GiB in 20 ms: busbw 100.66 GB/s
    CheckApi.conditions = [{"type": "Failed", "status": "True"}]
    assert _check(deployed) == 1
    captured = capsys.readouterr()
    assert "FAIL: bus bandwidth 100.66 GB/s at 1073741824 B is below the floor 240 GB/s" in captured.out
    assert captured.err.splitlines()[-1] == ("hoist: error: pool h100-efa: bus bandwidth 100.66 GB/s at 1073741824 B "
                                             "is below the floor 240 GB/s")
    assert CheckApi.requests[-1][0] == "DELETE"


def test_a_log_without_a_result_fails_and_says_how_it_ended(deployed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    CheckApi.log = "training.netcheck: FAIL: rank 3: NCCL used network 'Socket'\n"
    CheckApi.conditions = [{"type": "Failed", "status": "True"}]
    assert _check(deployed) == 1
    assert "the check printed no result; its log ends with: training.netcheck: FAIL: rank 3" in capsys.readouterr().err


def test_waiting_gives_up_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    stack_outputs = outputs.from_mapping(planned("prod").outputs, "plan")
    ticks = iter(range(0, 10_000, 60))
    monkeypatch.setattr(eks, "status", lambda name, o: {"conditions": [{"type": "Created", "status": "True"}]})
    with pytest.raises(CommandFailed, match="did not finish within 5 minutes"):
        netcheck.wait("c", stack_outputs, timeout_s=300, clock=lambda: float(next(ticks)), sleep=lambda s: None)
    assert netcheck.finished({"conditions": [{"type": "Failed", "status": "True"}]}) == "Failed"
    assert netcheck.finished({"conditions": [{"type": "Complete", "status": "False"}]}) is None


def test_efa_pools_checks_each_efa_pool_and_none_is_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "check", "--stack", "prod", "--efa-pools", "--dry-run", "--name", "d"]) == 0
    captured = capsys.readouterr()
    jobs = [j for j in yaml.safe_load_all(captured.out) if j]
    assert [j["metadata"]["name"] for j in jobs] == ["d-h100-efa"]
    assert "--require-efa" in jobs[0]["spec"]["trainer"]["args"]
    assert main(["cluster", "check", "--stack", "staging", "--efa-pools", "--dry-run"]) == 0
    assert "stack staging has no EFA pool; nothing to check" in capsys.readouterr().err


def test_every_failed_pool_is_named_in_the_one_line(deployed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    CheckApi.log = result_line(0.02, capsys)
    assert main(["cluster", "check", "--stack", "prod", "--efa-pools", "--name", "d", "--outputs", str(deployed)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("hoist: error: pool h100-efa: bus bandwidth 100.66 GB/s")
    assert ("POST", kube_stand_in.TRAINJOBS) in [(m, p) for m, p, _ in CheckApi.requests]
