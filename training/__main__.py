"""Train the reference model: ``python -m training --recipe cpu_debug [--set key=value ...]``.

1 CPU process:       python -m training --recipe cpu_debug
2 CPU workers:       torchrun --nproc-per-node 2 -m training --recipe cpu_debug
8 GPUs, one node:    torchrun --nproc-per-node 8 -m training --recipe gpu_single_node
2 nodes of 8 GPUs:   torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
                         --rdzv-endpoint $MASTER_ADDR:29500 -m training --recipe gpu_multi_node
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from torch.distributed.elastic.multiprocessing.errors import record

from training.config import DEFAULT_RECIPE, RECIPES, TrainConfigError, resolve


@record
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        cfg = resolve(args.recipe, args.overrides)
    except TrainConfigError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return 2
    from training.data import DataError
    from training.trainer import train

    try:
        result = train(cfg)
    except DataError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
