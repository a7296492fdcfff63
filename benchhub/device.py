"""Where a run computes: device selection and naming, bf16 autocast, moving batches."""
from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

from benchhub.errors import UserError


def select_device():
    """BENCHHUB_DEVICE (cpu, cuda, cuda:1) or CUDA when available, else CPU."""
    import torch

    wanted = os.environ.get("BENCHHUB_DEVICE")
    if not wanted:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except (RuntimeError, ValueError):
        raise UserError(f"BENCHHUB_DEVICE='{wanted}' is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise UserError(f"BENCHHUB_DEVICE='{wanted}' but this machine has {torch.cuda.device_count()} CUDA devices")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"BENCHHUB_DEVICE='{wanted}': benchhub runs on cpu or cuda")
    return device


def device_name(device) -> str:
    """'NVIDIA H100 80GB HBM3' or 'CPU <model name> (N cores)'."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"CPU {model} ({os.cpu_count()} cores)"


def bf16_supported() -> bool:
    """Native bf16 on the current CUDA device (not the emulation torch reports on e.g. V100)."""
    import torch

    return torch.cuda.is_bf16_supported(including_emulation=False)


def autocast(device):
    """bf16 autocast on CUDA devices that support it; a no-op context on CPU."""
    import torch

    if device.type == "cuda" and bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if hasattr(v, "to") else v) for k, v in batch.items()}
