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


def resolve_precision(precision: str | None, device) -> str:
    """The precision a run uses: the budget's, else the device's default (bf16-mixed on CUDA with native
    bf16, else fp32). The policies: `benchhub.budget.PRECISIONS`."""
    if precision is not None:
        return precision
    return "bf16-mixed" if device.type == "cuda" and bf16_supported() else "fp32"


def autocast(device, precision: str | None = None):
    """bf16 autocast under the bf16 precisions (`bf16-mixed`, `frozen-bf16`), on CUDA or CPU; with no
    precision given, the device's default (bf16 on CUDA where native, none on CPU)."""
    import torch

    if resolve_precision(precision, device) == "fp32" or device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def apply_precision(model, precision: str) -> dict:
    """Hold the model's weights as the precision says (after the method chose what trains): `frozen-bf16`
    casts every frozen floating-point fp32 parameter to bf16, trainable ones stay fp32. Returns the bytes
    of parameters per dtype."""
    import torch

    if precision == "frozen-bf16":
        for param in model.parameters():
            if not param.requires_grad and param.dtype == torch.float32:
                param.data = param.data.to(torch.bfloat16)
    out: dict = {}
    for param in model.parameters():
        key = str(param.dtype).replace("torch.", "")
        out[key] = out.get(key, 0) + param.numel() * param.element_size()
    return out


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if hasattr(v, "to") else v) for k, v in batch.items()}
