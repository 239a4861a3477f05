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
from infra.stack_files import ConfigError, load_stack


def check(args: argparse.Namespace) -> int:
    cfg = load_stack(args.stack)
    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real cluster; add --dry-run, or read the deployed stack")
    outputs = (stack_outputs.offline_outputs(args.stack) if args.dry_run and not args.outputs
               else stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline))
    request = netcheck.CheckRequest(name=args.name or job_name(args.stack, "check", dt.datetime.now(dt.UTC)),
                                    pool=args.pool, nodes=args.nodes)
    job = netcheck.check_job(cfg, outputs, request)
    if args.dry_run:
        sys.stdout.write(yaml.safe_dump(job, sort_keys=False))
        sys.stdout.flush()
        print("hoist cluster check: dry run; the TrainJob matches the Trainer v2.3 API and its pods the "
              f"Kubernetes {cfg.cluster.kubernetes_version} schema; nothing was sent", file=sys.stderr)
        return 0
    eks.submit(job, outputs)
    print(f"hoist cluster check: TrainJob {request.name} on pool {args.pool}, {args.nodes} node(s); waiting "
          f"(nodes start from zero)", file=sys.stderr, flush=True)
    try:
        outcome = netcheck.wait(request.name, outputs, timeout_s=args.timeout_minutes * 60)
        log = "".join(eks.logs(request.name, outputs, follow=False))
    finally:
        if not args.keep:
            netcheck.delete(request.name, outputs)
    result = netcheck.result_of(log)
    pool = eks.cluster_of(outputs).pools[args.pool]
    sys.stdout.write(netcheck.report(result, pool=args.pool, instance_types=pool.instance_types) + "\n")
    if not result["passed"] or outcome != "Complete":
        raise CommandFailed(f"pool {args.pool}: {result.get('reason') or 'the check job failed'}")
    return 0
