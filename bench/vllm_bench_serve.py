"""vLLM's own load generator (``vllm bench serve``) run from the engine's environment, without the
``vllm`` console script (the CPU build ships no ``vllm`` package metadata for it to find).

    .venv-vllm/bin/python bench/vllm_bench_serve.py --backend openai --base-url URL ... (vLLM's flags)
"""

from __future__ import annotations

import sys

from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":
    parser = FlexibleArgumentParser(prog="vllm bench serve")
    add_cli_args(parser)
    main(parser.parse_args(sys.argv[1:]))
