"""Run a module as ``python -m`` does and report the process's peak resident memory on exit:
``python -m tests.training.peak_rss MODULE ARGS...`` prints ``peak_rss_bytes=N`` to stderr."""

from __future__ import annotations

import atexit
import resource
import runpy
import sys


def _report() -> None:
    # ru_maxrss is in KiB on Linux: the largest resident set the process ever had, mapped files included.
    print(f"peak_rss_bytes={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}", file=sys.stderr)


if __name__ == "__main__":
    atexit.register(_report)
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
