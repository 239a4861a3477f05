"""All-reduce bandwidth as nccl-tests defines it, and the message sizes of a sweep.

From nccl-tests' doc/PERFORMANCE.md (github.com/NVIDIA/nccl-tests): the algorithm bandwidth is
``algbw = S / t`` (S bytes in t seconds), and for all-reduce the bus bandwidth is
``busbw = algbw * 2(n-1)/n`` for n ranks, "independent of the algorithm used (ring, tree, or
other)", so it can be compared with the hardware's peak whatever the number of ranks. Bandwidths
are in GB/s of 10^9 bytes (nccl-tests' ``bwUnit = 1.0E9``); sizes take nccl-tests' K/M/G suffixes,
which are powers of 1024. Like nccl-tests' default (``-a 1``) the time of a size is the mean over
ranks of each rank's mean iteration time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GB = 1e9
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


class NetcheckError(ValueError):
    """A bad argument or a failed check; one line for the job's log."""


def algbw_gbps(size_bytes: int, seconds: float) -> float:
    """Algorithm bandwidth: the size over the time, in GB/s."""
    if seconds <= 0:
        raise NetcheckError(f"time {seconds} s: must be positive")
    return size_bytes / seconds / GB


def allreduce_busbw_gbps(algbw: float, ranks: int) -> float:
    """All-reduce bus bandwidth: ``algbw * 2(n-1)/n``; one rank moves nothing over any bus."""
    if ranks < 1:
        raise NetcheckError(f"ranks {ranks}: must be at least 1")
    return algbw * 2 * (ranks - 1) / ranks


def parse_size(text: str) -> int:
    """``1M`` -> 1048576: a byte count with an optional K, M or G suffix (powers of 1024)."""
    match = re.fullmatch(r"(\d+)([KMG]?)B?", text.strip().upper())
    if match is None or int(match.group(1)) == 0:
        raise NetcheckError(f"size {text!r}: expected a positive byte count such as 4096, 64K, 1M or 1G")
    return int(match.group(1)) * _UNITS[match.group(2)]


def sweep_sizes(min_bytes: int, max_bytes: int, factor: int, element_bytes: int) -> list[int]:
    """Sizes from ``min_bytes`` to ``max_bytes``, each ``factor`` times the last, rounded down to whole elements."""
    if min_bytes > max_bytes:
        raise NetcheckError(f"--min-bytes {min_bytes} is above --max-bytes {max_bytes}")
    if factor < 2:
        raise NetcheckError(f"--step-factor {factor}: must be at least 2")
    if min_bytes < element_bytes:
        raise NetcheckError(f"--min-bytes {min_bytes}: below one {element_bytes}-byte element")
    sizes, size = [], min_bytes
    while size <= max_bytes:
        sizes.append(size // element_bytes * element_bytes)
        size *= factor
    return sizes


@dataclass(frozen=True, kw_only=True)
class Row:
    """One message size of the sweep, over all ranks."""

    size_bytes: int
    elements: int
    time_us: float
    algbw_gbps: float
    busbw_gbps: float
    wrong: int
    """Elements that held the wrong sum after the first all-reduce, over all ranks (nccl-tests' #wrong)."""


def row(size_bytes: int, element_bytes: int, rank_seconds: list[float], wrong: int) -> Row:
    """A row from each rank's mean seconds per all-reduce of ``size_bytes``."""
    seconds = sum(rank_seconds) / len(rank_seconds)
    alg = algbw_gbps(size_bytes, seconds)
    return Row(size_bytes=size_bytes, elements=size_bytes // element_bytes, time_us=seconds * 1e6,
               algbw_gbps=alg, busbw_gbps=allreduce_busbw_gbps(alg, len(rank_seconds)), wrong=wrong)


def table(rows: list[Row]) -> str:
    """The sweep in nccl-tests' columns."""
    lines = [f"{'size (B)':>12} {'count':>12} {'time (us)':>11} {'algbw (GB/s)':>13} {'busbw (GB/s)':>13} "
             f"{'#wrong':>7}"]
    lines += [f"{r.size_bytes:>12} {r.elements:>12} {r.time_us:>11.1f} {r.algbw_gbps:>13.2f} {r.busbw_gbps:>13.2f} "
              f"{r.wrong:>7}" for r in rows]
    return "\n".join(lines)


def bandwidth_failure(rows: list[Row], floor_gbps: float | None) -> str | None:
    """Why the sweep fails, or None. The floor applies to the largest message: on large sizes the time is
    bandwidth-bound (PERFORMANCE.md: "on large sizes, it makes more sense to look at the bandwidth")."""
    if not rows:
        return "the sweep measured no message size"
    wrong = sum(r.wrong for r in rows)
    if wrong:
        return f"{wrong} element(s) held a wrong sum after all-reduce: a rank computes or transfers wrongly"
    largest = rows[-1]
    if floor_gbps is not None and largest.busbw_gbps < floor_gbps:
        return (f"bus bandwidth {largest.busbw_gbps:.2f} GB/s at {largest.size_bytes} B is below the floor "
                f"{floor_gbps:g} GB/s")
    return None
