"""``python -m training.netcheck [--nproc N] [--min-bytes 1M] [--max-bytes 1G] [--min-busbw GBPS] [--require-efa]``.

Started without torchrun's variables it plans the job as ``training.launch`` does (Kubeflow's
``PET_*``, torchrun's variables, or one local node) and execs torchrun running itself on every
worker, with no restarts: a check that failed once has failed. Every rank checks its GPU, the
ranks exchange the results over gloo before any NCCL traffic (so one bad GPU fails the job in
seconds), then run the sweep on NCCL (gloo on CPU) and judge it. Rank 0 prints the report, the
table in nccl-tests' columns and one JSON line ``{"netcheck": ...}`` that ``hoist cluster check``
reads; every rank exits with the same status.

Examples::

    python -m training.netcheck --nproc 2 --min-bytes 64K --max-bytes 1M        # a laptop, gloo
    python -m training.netcheck --min-busbw 300 --require-efa --expect-gpus 8   # an EFA pool
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from training.launch import LaunchError, plan_launch, worker_environment
from training.netcheck import health, transport
from training.netcheck.bandwidth import NetcheckError, Row, bandwidth_failure, parse_size, row, sweep_sizes, table

ELEMENT_BYTES = 4
"""float32, nccl-tests' default data type."""
PROG = "training.netcheck"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.splitlines()[0])
    p.add_argument("--min-bytes", default="1M", help="smallest message (K/M/G are powers of 1024; default 1M)")
    p.add_argument("--max-bytes", default="1G", help="largest message (default 1G)")
    p.add_argument("--step-factor", type=int, default=2, help="each size is this times the last (default 2)")
    p.add_argument("--iters", type=int, default=20, help="timed all-reduces per size (nccl-tests' default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed all-reduces per size (nccl-tests' default 5)")
    p.add_argument("--min-busbw", type=float, help="fail when the largest size's bus bandwidth (GB/s) is below")
    p.add_argument("--require-efa", action="store_true",
                   help="fail unless every rank's NCCL traffic went over EFA through the AWS OFI plugin")
    p.add_argument("--expect-gpus", type=int, default=0, help="GPUs every node must show (default: any)")
    p.add_argument("--report-only", action="store_true",
                   help="on a failed check, print the verdict but exit 0: for TrainJobs, whose restart policy would "
                        "rerun a failed check; the caller reads the JSON line")
    p.add_argument("--log-dir", type=Path, help="where each rank's NCCL log goes (default: a temporary directory)")
    return p


def _fail(message: str, status: int, *, report_only: bool = False) -> None:
    print(f"{PROG}: {'error' if status == 2 else 'FAIL'}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(0 if report_only else status)


def launch(argv: Sequence[str]) -> None:
    """Exec torchrun running the check on every worker of this node."""
    try:
        # SageMaker's /opt/ml is not a netcheck platform: os.devnull has no resourceconfig.json under it.
        plan = plan_launch(argv, os.environ, Path(os.devnull))
    except LaunchError as exc:
        _fail(str(exc), 2)
    args = parser().parse_args(plan.train_args)  # a bad argument fails here, before any worker starts
    sweep_sizes(parse_size(args.min_bytes), parse_size(args.max_bytes), args.step_factor, ELEMENT_BYTES)
    plan = dataclasses.replace(plan, module=PROG, max_restarts=0)
    print(f"{PROG}: {plan.platform}: {plan.nnodes} node(s), node rank {plan.node_rank}, "
          f"{plan.nproc_per_node} process(es) per node", flush=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", *plan.torchrun_args()]
    os.execve(sys.executable, torchrun, worker_environment(os.environ))  # noqa: S606 - our argv, no shell


def _nccl_log(log_dir: Path, rank: int) -> Path:
    """Route this rank's NCCL log to a file of its own, at INFO, before NCCL first loads."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"nccl.rank{rank}.log"
    os.environ.update({"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET", "NCCL_DEBUG_FILE": str(path)})
    return path


def _gather(obj: Any, group: Any = None) -> list[Any]:
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj, group=group)
    return gathered


def _sweep(sizes: list[int], args: argparse.Namespace, device: torch.device, group: Any) -> list[Row]:
    world = dist.get_world_size()
    rows = []
    for size in sizes:
        buffer = torch.ones(size // ELEMENT_BYTES, dtype=torch.float32, device=device)
        # The first all-reduce is checked, like nccl-tests' #wrong column: every element must be the rank count.
        dist.all_reduce(buffer, group=group)
        wrong = int((buffer != world).sum())
        buffer.zero_()  # zeros stay finite however many times they are summed
        for _ in range(max(args.warmup - 1, 0)):
            dist.all_reduce(buffer, group=group)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(args.iters):
            dist.all_reduce(buffer, group=group)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = (time.perf_counter() - start) / args.iters
        rank_seconds, rank_wrong = zip(*_gather((seconds, wrong)), strict=True)
        rows.append(row(size, ELEMENT_BYTES, list(rank_seconds), sum(rank_wrong)))
        del buffer
    return rows


def worker(args: argparse.Namespace) -> int:
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    log_path = _nccl_log(args.log_dir or Path(tempfile.mkdtemp(prefix="netcheck-")), rank)
    sizes = sweep_sizes(parse_size(args.min_bytes), parse_size(args.max_bytes), args.step_factor, ELEMENT_BYTES)
    mine = health.check(rank, local_rank, args.expect_gpus)
    use_cuda = mine.gpus_on_node > local_rank and mine.ok
    # gloo carries the health results, so no rank touches NCCL before every GPU is known to be good.
    dist.init_process_group("gloo")
    checks: list[health.Health] = _gather(mine)
    bad = [f"{h.host} rank {h.rank}: {p}" for h in checks for p in h.problems]
    if rank == 0:
        for h in checks:
            print(f"health {h.host} rank {h.rank} {h.device}: {'ok' if h.ok else 'FAIL'}"
                  f"{' (' + '; '.join(h.notes) + ')' if h.notes else ''}", flush=True)
    if bad:
        if rank == 0:
            print(json.dumps({"netcheck": {"passed": False, "reason": bad[0], "health": [vars(h) for h in checks]}}))
        dist.destroy_process_group()
        _fail(bad[0], 1, report_only=args.report_only)
    devices = {h.gpus_on_node > 0 for h in checks}
    if len(devices) > 1:
        dist.destroy_process_group()
        _fail("some ranks have GPUs and some do not: the sweep needs one kind of device", 1,
              report_only=args.report_only)
    sweep_group = dist.new_group(backend="nccl") if use_cuda else None
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    rows = _sweep(sizes, args, device, sweep_group)
    found = transport.parse(log_path.read_text(errors="replace").splitlines()) if log_path.exists() else \
        transport.Transport()
    transports: list[transport.Transport] = _gather(found)
    reason = bandwidth_failure(rows, args.min_busbw)
    if reason is None and args.require_efa:
        if not use_cuda:
            reason = "--require-efa: no GPU, so NCCL never ran (EFA carries NCCL traffic only)"
        else:
            reason = next((r for i, t in enumerate(transports) if (r := transport.efa_failure(i, t))), None)
    if rank == 0:
        _report(rows, transports, checks, reason, backend="nccl" if use_cuda else "gloo", args=args)
    dist.destroy_process_group()
    if reason is not None:
        _fail(reason, 1, report_only=args.report_only)
    return 0


def _report(rows: list[Row], transports: list[transport.Transport], checks: list[health.Health], reason: str | None,
            *, backend: str, args: argparse.Namespace) -> None:
    world = len(transports)
    nodes = len({h.host for h in checks})
    print(f"all-reduce, float32, {world} rank(s) on {nodes} node(s), backend {backend}; "
          f"busbw = algbw * 2(n-1)/n (nccl-tests PERFORMANCE.md)")
    print(table(rows))
    if backend == "nccl":
        for i, t in enumerate(transports):
            print(f"transport rank {i}: {t.describe()}")
    else:
        print("transport: gloo (no NCCL on CPU)")
    floor = f"floor {args.min_busbw:g} GB/s" if args.min_busbw is not None else "no floor"
    print(f"netcheck: {'PASS' if reason is None else 'FAIL: ' + reason} "
          f"(largest size busbw {rows[-1].busbw_gbps:.2f} GB/s, {floor})", flush=True)
    print(json.dumps({"netcheck": {
        "passed": reason is None, "reason": reason, "backend": backend, "ranks": world, "nodes": nodes,
        "min_busbw_gbps": args.min_busbw, "require_efa": args.require_efa,
        "rows": [dataclasses.asdict(r) for r in rows],
        "transports": [{**vars(t), "channels": sorted(t.channels)} for t in transports],
        "health": [vars(h) for h in checks],
    }}), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if "RANK" not in os.environ:
            launch(argv)
            return
        args = parser().parse_args(argv)
        raise SystemExit(worker(args))
    except NetcheckError as exc:
        _fail(str(exc), 2)


if __name__ == "__main__":
    main()
