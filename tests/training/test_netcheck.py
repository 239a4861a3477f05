"""The network check: nccl-tests' bandwidth arithmetic, the floor, the transport read from recorded
NCCL logs, the GPU health check on a host without GPUs, and real 2-worker runs under torchrun (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.training import nccl_logs
from tests.training.runner import ROOT
from training.launch import plan_launch
from training.netcheck import health, transport
from training.netcheck.bandwidth import (
    NetcheckError,
    algbw_gbps,
    allreduce_busbw_gbps,
    bandwidth_failure,
    parse_size,
    row,
    sweep_sizes,
)


def test_bus_bandwidth_is_nccl_tests_formula() -> None:
    # awsome-distributed-training's PARAM benchmark notes, 2 p4d nodes (16 ranks), 1 GiB all-reduce:
    # "AlgBW =~ 41.187, BusBW =~ 77.226" (GB/s).
    assert allreduce_busbw_gbps(41.187, 16) == pytest.approx(77.226, abs=1e-3)
    assert allreduce_busbw_gbps(10.0, 2) == 10.0  # 2(n-1)/n = 1 for two ranks
    assert allreduce_busbw_gbps(10.0, 1) == 0.0
    assert algbw_gbps(1 << 30, 0.01) == pytest.approx(107.374, abs=1e-3)  # S/t in units of 1e9 bytes


def test_a_row_averages_the_ranks_times() -> None:
    r = row(1 << 20, 4, [0.001, 0.003], wrong=0)
    assert r.time_us == pytest.approx(2000.0)
    assert r.algbw_gbps == pytest.approx((1 << 20) / 0.002 / 1e9)
    assert r.busbw_gbps == pytest.approx(r.algbw_gbps)
    assert r.elements == 1 << 18


def test_sizes_and_their_errors() -> None:
    assert parse_size("1M") == 1 << 20 and parse_size("64k") == 65536 and parse_size("1G") == 1 << 30
    assert parse_size("4096") == 4096
    default = sweep_sizes(parse_size("1M"), parse_size("1G"), 2, 4)
    assert len(default) == 11 and default[0] == 1 << 20 and default[-1] == 1 << 30
    for bad in ("0", "1T", "-1M", "big"):
        with pytest.raises(NetcheckError, match="positive byte count"):
            parse_size(bad)
    with pytest.raises(NetcheckError, match="above --max-bytes"):
        sweep_sizes(2048, 1024, 2, 4)
    with pytest.raises(NetcheckError, match="step-factor"):
        sweep_sizes(1024, 2048, 1, 4)


def test_the_floor_applies_to_the_largest_message() -> None:
    rows = [row(1 << 20, 4, [0.001, 0.001], 0), row(1 << 30, 4, [0.01, 0.01], 0)]  # 1.05 and 107.4 GB/s
    assert bandwidth_failure(rows, 100.0) is None
    reason = bandwidth_failure(rows, 200.0)
    assert reason is not None and "107.37 GB/s" in reason and "below the floor 200 GB/s" in reason
    assert bandwidth_failure(rows, None) is None
    wrong = [row(1 << 20, 4, [0.001], 3)]
    assert "3 element(s) held a wrong sum" in (bandwidth_failure(wrong, None) or "")
    assert bandwidth_failure([], None) == "the sweep measured no message size"


def test_efa_through_the_old_plugin() -> None:
    t = transport.parse(nccl_logs.EFA_OLD_PLUGIN.splitlines())
    assert (t.network, t.provider, t.nics, t.nccl_version) == ("AWS Libfabric", "efa", 32, "2.23.4+cuda12.4")
    assert t.networks_used == {"AWS Libfabric"}
    assert transport.efa_failure(0, t) is None


def test_efa_through_the_new_plugin() -> None:
    t = transport.parse(nccl_logs.EFA_NEW_PLUGIN.splitlines())
    assert (t.provider, t.fabric, t.nics, t.plugin_version) == ("efa", "efa", 1, "1.16.2")
    assert t.nccl_version == "2.27.3+cuda12.9"
    assert transport.efa_failure(0, t) is None
    assert t.describe() == "AWS Libfabric, provider efa (1 nics); between nodes: no channel between nodes"


def test_sockets_fail_the_efa_check() -> None:
    t = transport.parse(nccl_logs.SOCKETS.splitlines())
    assert t.network == "Socket" and t.channels == {"NET/Socket", "P2P/IPC"}
    reason = transport.efa_failure(3, t)
    assert reason is not None and reason.startswith("rank 3: NCCL used network 'Socket'") and "TCP" in reason


def test_libfabric_over_tcp_fails_the_efa_check() -> None:
    t = transport.parse(nccl_logs.OFI_OVER_TCP.splitlines())
    assert (t.network, t.provider) == ("AWS Libfabric", "tcp;ofi_rxm")
    assert "provider 'tcp;ofi_rxm', not 'efa'" in (transport.efa_failure(0, t) or "")


def test_a_socket_channel_beside_efa_fails() -> None:
    t = transport.parse(nccl_logs.MIXED.splitlines())
    assert "channels went over Socket" in (transport.efa_failure(1, t) or "")


def test_no_log_fails_the_efa_check() -> None:
    assert "logged no network choice" in (transport.efa_failure(0, transport.parse([])) or "")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the host has a GPU")
def test_health_on_a_host_without_gpus() -> None:
    quiet = health.check(0, 0, expected_gpus=0)
    assert quiet.ok and quiet.device == "no GPU" and "no GPU" in quiet.notes[0]
    strict = health.check(0, 0, expected_gpus=8)
    assert strict.problems == ["no GPU visible, 8 expected (driver, device plugin, or nvidia.com/gpu request)"]


def test_the_launcher_runs_the_check_on_every_worker() -> None:
    env = {"PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_MASTER_ADDR": "job-node-0-0", "PET_NPROC_PER_NODE": "8"}
    plan = plan_launch(["--min-busbw", "300"], env, ROOT / "no-opt-ml")
    assert plan.torchrun_args()[-3:] == ["training", "--min-busbw", "300"]  # the trainer by default


def _netcheck(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PET_", "MASTER_", "NNODES", "NODE_RANK", "RANK", "WORLD_SIZE", "LOCAL_RANK"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "training.netcheck", "--nproc", "2", "--min-bytes", "64K",
                           "--max-bytes", "256K", "--iters", "3", "--warmup", "2", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def _result(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in run.stdout.splitlines() if line.startswith('{"netcheck"')]
    assert lines, run.stdout[-2000:] + run.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])["netcheck"]
    return result


def test_two_gloo_workers_sweep_and_pass() -> None:
    run = _netcheck("--min-busbw", "0.0001")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = _result(run)
    assert (result["passed"], result["ranks"], result["backend"]) == (True, 2, "gloo")
    assert [r["size_bytes"] for r in result["rows"]] == [65536, 131072, 262144]
    for r in result["rows"]:
        assert r["wrong"] == 0 and r["busbw_gbps"] == pytest.approx(r["algbw_gbps"])  # n=2: factor 1
        assert r["algbw_gbps"] == pytest.approx(r["size_bytes"] / (r["time_us"] / 1e6) / 1e9)
    assert "transport: gloo (no NCCL on CPU)" in run.stdout and "netcheck: PASS" in run.stdout
    assert "no GPU" in run.stdout


def test_a_floor_above_the_measured_bandwidth_fails_with_one_line() -> None:
    run = _netcheck("--min-busbw", "1000000")
    assert run.returncode != 0
    failures = [line for line in run.stderr.splitlines() if line.startswith("training.netcheck: FAIL:")]
    assert failures and "below the floor 1e+06 GB/s" in failures[0]
    assert _result(run)["passed"] is False


def test_report_only_prints_the_failed_verdict_and_exits_zero() -> None:
    run = _netcheck("--min-busbw", "1000000", "--report-only")
    assert run.returncode == 0, run.stderr[-3000:]
    assert _result(run)["passed"] is False and "training.netcheck: FAIL: bus bandwidth" in run.stderr


def test_a_missing_gpu_fails_before_the_sweep() -> None:
    run = _netcheck("--expect-gpus", "1")
    assert run.returncode != 0
    assert "training.netcheck: FAIL: " in run.stderr and "no GPU visible, 1 expected" in run.stderr
    assert "algbw" not in run.stdout  # no sweep ran


def test_require_efa_fails_without_nccl() -> None:
    run = _netcheck("--require-efa")
    assert run.returncode != 0 and "--require-efa: no GPU, so NCCL never ran" in run.stderr


def test_bad_arguments_fail_before_any_worker_starts() -> None:
    run = _netcheck("--step-factor", "1")
    assert run.returncode == 2
    assert "training.netcheck: error: --step-factor 1: must be at least 2" in run.stderr
    assert "process(es) per node" not in run.stdout
