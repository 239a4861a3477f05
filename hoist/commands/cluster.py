"""`hoist cluster check`: prove a GPU pool fit for multi-node training (GPUs healthy, NCCL over the
right transport, bus bandwidth at its floor) by running ``training.netcheck`` on it as a TrainJob."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import yaml

from hoist import outputs as stack_outputs
from hoist.errors import CommandFailed
from hoist.jobs import eks, job_name, netcheck
from infra.config import StackConfig
from infra.stack_files import ConfigError, load_stack


def check(args: argparse.Namespace) -> int:
    cfg = load_stack(args.stack)
    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real cluster; add --dry-run, or read the deployed stack")
    outputs = (stack_outputs.offline_outputs(args.stack) if args.dry_run and not args.outputs
               else stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline))
    pools = [args.pool] if args.pool else sorted(n for n, p in eks.cluster_of(outputs).pools.items() if p.efa)
    if not pools:
        print(f"hoist cluster check: stack {args.stack} has no EFA pool; nothing to check", file=sys.stderr)
        return 0
    name = args.name or job_name(args.stack, "check", dt.datetime.now(dt.UTC))
    reasons = {pool: _check_pool(args, cfg, outputs, pool, name if args.pool else f"{name}-{pool}"[:63].rstrip("-"))
               for pool in pools}
    failed = {pool: reason for pool, reason in reasons.items() if reason is not None}
    if failed:
        raise CommandFailed("; ".join(f"pool {pool}: {reason}" for pool, reason in failed.items()))
    return 0


def _check_pool(args: argparse.Namespace, cfg: StackConfig, outputs: stack_outputs.StackOutputs, pool: str,
                name: str) -> str | None:
    """Run (or, dry, print) the check on one pool: None when it passed, else why it failed."""
    job = netcheck.check_job(cfg, outputs, netcheck.CheckRequest(name=name, pool=pool, nodes=args.nodes))
    if args.dry_run:
        sys.stdout.write(yaml.safe_dump(job, sort_keys=False) + ("---\n" if args.efa_pools else ""))
        sys.stdout.flush()
        print(f"hoist cluster check: dry run ({pool}); the TrainJob matches the Trainer v2.3 API and its pods the "
              f"Kubernetes {cfg.cluster.kubernetes_version} schema; nothing was sent", file=sys.stderr)
        return None
    eks.submit(job, outputs)
    print(f"hoist cluster check: TrainJob {name} on pool {pool}, {args.nodes} node(s); waiting (nodes start "
          f"from zero)", file=sys.stderr, flush=True)
    try:
        outcome = netcheck.wait(name, outputs, timeout_s=args.timeout_minutes * 60)
        log = "".join(eks.logs(name, outputs, follow=False))
    finally:
        if not args.keep:
            netcheck.delete(name, outputs)
    result = netcheck.result_of(log)
    deployed = eks.cluster_of(outputs).pools[pool]
    sys.stdout.write(netcheck.report(result, pool=pool, instance_types=deployed.instance_types) + "\n")
    if result["passed"] and outcome == "Complete":
        return None
    return str(result.get("reason") or "the check job failed")
