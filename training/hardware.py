"""Peak dense bf16 throughput per GPU, for model-FLOPs utilisation (MFU).

From NVIDIA's data sheets (dense, no sparsity), read 2025-11. Matched on the device name
``torch.cuda.get_device_name`` reports.
"""

from __future__ import annotations

import torch

PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 125.0,
    "L4": 121.0,
}


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of one device, or None where unknown (CPUs, unlisted GPUs)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for model, tflops in PEAK_BF16_TFLOPS.items():
        if model in name:
            return tflops * 1e12
    return None
