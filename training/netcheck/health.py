"""A fast per-GPU health check, run by every rank on its own device before any NCCL traffic.

A node with a missing or broken GPU should fail in seconds with its name, not hang a collective
for the NCCL timeout. Each rank checks: that the node shows the GPUs the job expects, a matmul on
its GPU against the same product on the CPU, that the memory the driver reports matches the
device's, that a buffer written on the device reads back intact, and uncorrected ECC errors where
NVIDIA's management library (pynvml) is installed. On a host without GPUs it says so plainly.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import torch

MATMUL_N = 512
PATTERN_MIB = 64


@dataclass(kw_only=True)
class Health:
    """One rank's check of its GPU."""

    host: str
    rank: int
    device: str
    """``cuda:N <name>``, or ``no GPU`` on a host without one."""
    gpus_on_node: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _ecc_uncorrected(index: int) -> int | None:
    """Uncorrected volatile ECC errors of GPU ``index`` since the driver loaded; None where unreadable."""
    try:
        import pynvml  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        return int(pynvml.nvmlDeviceGetTotalEccErrors(handle, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                                                      pynvml.NVML_VOLATILE_ECC))
    except pynvml.NVMLError:
        return None  # ECC off, or a GPU without ECC (the G families)


def _check_device(index: int, health: Health) -> None:
    device = torch.device("cuda", index)
    generator = torch.Generator().manual_seed(index)
    a = torch.randn(MATMUL_N, MATMUL_N, generator=generator, dtype=torch.float64)
    b = torch.randn(MATMUL_N, MATMUL_N, generator=generator, dtype=torch.float64)
    # float64 keeps TF32 and reduced-precision reductions out of the comparison.
    on_gpu = (a.to(device) @ b.to(device)).cpu()
    if not torch.allclose(on_gpu, a @ b, rtol=1e-9, atol=1e-9):
        health.problems.append(f"{health.device}: a {MATMUL_N}x{MATMUL_N} matmul differs from the CPU's")
    free, total = torch.cuda.mem_get_info(device)
    declared = torch.cuda.get_device_properties(device).total_memory
    if total != declared:
        health.problems.append(f"{health.device}: the driver reports {total} B of memory, the device {declared} B")
    if free < PATTERN_MIB << 20:
        health.problems.append(f"{health.device}: only {free >> 20} MiB free before the job started")
    else:
        expected = torch.arange(PATTERN_MIB << 18, dtype=torch.int32)
        if not torch.equal(expected.to(device).cpu(), expected):
            health.problems.append(f"{health.device}: a {PATTERN_MIB} MiB buffer did not read back intact")
        health.notes.append(f"{free >> 20} of {total >> 20} MiB free")
    ecc = _ecc_uncorrected(index)
    if ecc is None:
        health.notes.append("ECC not read (pynvml missing or ECC off)")
    elif ecc:
        health.problems.append(f"{health.device}: {ecc} uncorrected ECC error(s) since the driver loaded")
    else:
        health.notes.append("0 uncorrected ECC errors")


def check(rank: int, local_rank: int, expected_gpus: int) -> Health:
    """Check this rank's GPU (``local_rank``); ``expected_gpus`` is how many the node must show (0: any)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    host = socket.gethostname()
    if gpus == 0:
        health = Health(host=host, rank=rank, device="no GPU", gpus_on_node=0,
                        notes=["no GPU: torch sees no CUDA device, so the sweep runs on CPU with gloo"])
        if expected_gpus:
            health.problems.append(f"no GPU visible, {expected_gpus} expected (driver, device plugin, or "
                                   f"nvidia.com/gpu request)")
        return health
    health = Health(host=host, rank=rank, device=f"cuda:{local_rank} {torch.cuda.get_device_name(local_rank)}",
                    gpus_on_node=gpus)
    if expected_gpus and gpus != expected_gpus:
        health.problems.append(f"the node shows {gpus} GPU(s), {expected_gpus} expected")
    if local_rank >= gpus:
        health.problems.append(f"local rank {local_rank} has no GPU of its own ({gpus} visible)")
        return health
    try:
        _check_device(local_rank, health)
    except RuntimeError as exc:  # a CUDA error: the GPU is unusable
        health.problems.append(f"{health.device}: {str(exc).splitlines()[0]}")
    return health
