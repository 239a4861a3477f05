"""Run a module as ``python -m`` does and report the process's peak resident memory on exit:
``python -m tests.training.peak_rss MODULE ARGS...`` prints ``peak_rss_bytes=N`` to stderr."""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def _report() -> None:
    # VmHWM is the high-water mark of this program's own address space, mapped files included. Not
    # ru_maxrss: Linux carries that across fork and exec, so a child of a large pytest process would
    # report its parent's size.
    status = Path("/proc/self/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(f"peak_rss_bytes={kib * 1024}", file=sys.stderr)


if __name__ == "__main__":
    atexit.register(_report)
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
