"""`hoist cluster check`: ``python -m training.netcheck`` as a TrainJob on one GPU pool, its result,
and the table.

The job is an ordinary TrainJob (the pool's node shape, selector, toleration, Kueue queue and, on an
EFA pool, the fabric's settings), checked like every TrainJob against the Trainer's API models and
the Kubernetes schema before it is sent. Its arguments come from the catalog: every node must show
all its GPUs, an EFA pool's traffic must go over EFA, and with two nodes or more the bus bandwidth
must reach the instance type's floor (``infra.efa.BUSBW_FLOORS``; one node's all-reduce never leaves
the node, so no floor applies to it). The job starts its nodes from zero; once its result is read it
is deleted, and the pool's empty nodes go after Karpenter's empty delay.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from hoist.errors import CommandFailed
from hoist.jobs import eks
from hoist.outputs import PoolOutput, StackOutputs
from infra import efa
from infra.config import StackConfig
from infra.stack_files import ConfigError
from training.netcheck.bandwidth import Row, table

NETCHECK = ("python", "-m", "training.netcheck")
DEADLINE_HOURS = 1.0
"""Nodes from zero (minutes), the image pull, and a sweep to 1 GiB take well under an hour."""
CHECK_LABEL = {"hoist.dev/check": "netcheck"}


@dataclass(frozen=True, kw_only=True)
class CheckRequest:
    name: str
    pool: str
    nodes: int


def floor_gbps(pool: PoolOutput, nodes: int) -> float | None:
    """The lowest floor among the pool's instance types, or None when one node or an unmeasured type."""
    if nodes < 2 or not pool.efa:
        return None
    floors = [efa.BUSBW_FLOORS.get(t) for t in pool.instance_types]
    if any(f is None for f in floors):
        return None
    return min(f.gbps for f in floors if f is not None)


def netcheck_arguments(pool: PoolOutput, nodes: int, gpus_per_node: int) -> list[str]:
    # --report-only: a failed verdict exits 0, so the runtime's restart-on-failure (which a TrainJob cannot
    # patch away) does not rerun it; the verdict is read from the log.
    arguments = ["--report-only", "--expect-gpus", str(gpus_per_node)]
    floor = floor_gbps(pool, nodes)
    if floor is not None:
        arguments += ["--min-busbw", f"{floor:g}"]
    if pool.efa:
        arguments.append("--require-efa")
    return arguments


def check_job(cfg: StackConfig, outputs: StackOutputs, request: CheckRequest) -> dict[str, Any]:
    """The checked TrainJob that runs the network check on ``request.nodes`` nodes of the pool."""
    cluster = eks.cluster_of(outputs)
    pool = eks.deployed_pool(cfg, outputs, request.pool)
    train_request = eks.TrainJobRequest(name=request.name, pool=request.pool, nodes=request.nodes, efa=None,
                                        recipe=cfg.training_jobs.recipe)
    shape = eks.node_shape_of(train_request, pool, cluster.pools)
    if "training" not in outputs.images:
        raise ConfigError(f"stack {outputs.stack} runs no training image yet: set hoist:images.training to a digest")
    image = outputs.images["training"]
    job = eks.render_train_job(train_request, shape, namespace=cluster.namespace, image=image,
                               arguments=netcheck_arguments(pool, request.nodes, shape.gpus), fsx=False,
                               deadline_hours=DEADLINE_HOURS, stack=outputs.stack,
                               environment=eks.fabric_environment(pool, shape), command=NETCHECK)
    job["metadata"]["labels"].update(CHECK_LABEL)
    eks.check_job(job, cfg, cluster, image)
    return job


def finished(state: dict[str, Any]) -> str | None:
    """``Complete`` or ``Failed`` once the Trainer has set either condition to True."""
    for condition in state["conditions"]:
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return str(condition["type"])
    return None


def wait(name: str, outputs: StackOutputs, *, timeout_s: float, poll_s: float = 15.0,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """Poll the TrainJob until it finishes; CommandFailed when it does not within ``timeout_s``."""
    deadline = clock() + timeout_s
    while True:
        outcome = finished(eks.status(name, outputs))
        if outcome is not None:
            return outcome
        if clock() >= deadline:
            raise CommandFailed(f"TrainJob {name} did not finish within {timeout_s / 60:g} minutes; see "
                                f"`hoist train status --name {name}` (is the pool's capacity available?)")
        sleep(poll_s)


def result_of(log: str) -> dict[str, Any]:
    """The ``{"netcheck": ...}`` line rank 0 printed last."""
    lines = [line for line in log.splitlines() if line.startswith('{"netcheck"')]
    if not lines:
        tail = " | ".join(log.strip().splitlines()[-3:]) or "an empty log"
        raise CommandFailed(f"the check printed no result; its log ends with: {tail}")
    result: dict[str, Any] = json.loads(lines[-1])["netcheck"]
    return result


def delete(name: str, outputs: StackOutputs) -> None:
    """Delete the TrainJob, so its pods go and the pool's nodes empty."""
    namespace = eks.cluster_of(outputs).namespace
    api = client.CustomObjectsApi(eks._api(outputs))
    api.delete_namespaced_custom_object(eks.GROUP, eks.VERSION, namespace, eks.PLURAL, name)


def report(result: dict[str, Any], *, pool: str, instance_types: list[str]) -> str:
    """The table a person (or a deploy log) reads: the sweep, the transport per rank, the verdict."""
    lines = [f"pool {pool} ({', '.join(instance_types)}): {result.get('nodes', '?')} node(s), "
             f"{result.get('ranks', '?')} rank(s), backend {result.get('backend', '?')}"]
    for h in result.get("health", []):
        verdict = "ok" if not h["problems"] else "FAIL: " + "; ".join(h["problems"])
        lines.append(f"  gpu  {h['host']} rank {h['rank']} {h['device']}: {verdict}")
    rows = [Row(**r) for r in result.get("rows", [])]
    if rows:
        lines += ["  " + line for line in table(rows).splitlines()]
    for rank, t in enumerate(result.get("transports", [])):
        between = ", ".join(c.removeprefix("NET/") for c in t["channels"] if c.startswith("NET/")) or "none"
        lines.append(f"  net  rank {rank}: network {t['network']}, provider {t['provider']}, between nodes: {between}")
    floor = result.get("min_busbw_gbps")
    lines.append(f"  floor: {floor:g} GB/s at the largest size" if floor is not None
                 else "  floor: none (one node, or no published measurement for this type)")
    lines.append("PASS" if result["passed"] else f"FAIL: {result['reason']}")
    return "\n".join(lines)
