"""Compute: FLOPs of a training step (torch's flop counter plus bitsandbytes' kernels), achieved FLOP/s, MFU."""
from __future__ import annotations

import json
import math
import os
import re
import time

from benchhub.device import bf16_supported
from benchhub.errors import RunFailure
from benchhub.train import accumulate_gradients, scratch_train_mode


def _matmul_flops(a_shape, *args, out_shape=None, **kwargs) -> int:
    """2·M·K·N for a matmul of A [..., K] giving [..., N] whatever B's (packed) layout."""
    out = out_shape[0] if out_shape and isinstance(out_shape[0], (tuple, list)) else out_shape
    return 2 * math.prod(a_shape) * out[-1]


def quantized_matmul_ops() -> dict:
    """bitsandbytes' matmul kernels (custom ops torch's flop counter does not know): 4-bit and LLM.int8."""
    import torch

    ops = {}
    namespace = getattr(torch.ops, "bitsandbytes", None)
    for name in ("gemm_4bit", "int8_mixed_scaled_mm", "int8_scaled_mm", "int8_linear_matmul"):
        op = getattr(namespace, name, None) if namespace is not None else None
        if op is not None:
            ops[op] = _matmul_flops  # the counter looks ops up by overload packet
    return ops


def step_flops(bundle, micro_batches: list[dict]) -> int:
    """FLOPs of one optimizer step's forward and backward (torch.utils.flop_counter, plus
    bitsandbytes' quantized matmuls); no update, buffers restored."""
    from torch.utils.flop_counter import FlopCounterMode

    with scratch_train_mode(bundle.model), \
            FlopCounterMode(display=False, custom_mapping=quantized_matmul_ops()) as counter:
        accumulate_gradients(bundle, micro_batches)
    return int(counter.get_total_flops())


# Dense peak FLOP/s from the vendors' data sheets: (bf16 tensor core, fp32). First match wins.
CUDA_PEAK_FLOPS = [
    (r"\bH200\b", 989e12, 67e12),
    (r"\bH100\b.*\bPCIe\b", 756e12, 51e12),
    (r"\bH100\b.*\bNVL\b", 835e12, 60e12),
    (r"\bH100\b", 989e12, 67e12),
    (r"\bA100\b", 312e12, 19.5e12),
    (r"\bL40S\b", 362e12, 91.6e12),
    (r"\bL4\b", 121e12, 30.3e12),
    (r"\bA10\b", 125e12, 31.2e12),
    (r"\bV100\b", None, 15.7e12),
]


def cuda_peak_flops(name: str, bf16: bool) -> float | None:
    for pattern, bf16_peak, fp32_peak in CUDA_PEAK_FLOPS:
        if re.search(pattern, name):
            return bf16_peak if bf16 else fp32_peak
    return None


def measure_cpu_matmul_flops(size: int = 1024, seconds: float = 0.5) -> float:
    """Best FLOP/s of float32 size×size matmuls with torch's threads (three timed rounds)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            torch.mm(a, b)
            n += 1
        best = max(best, 2 * size ** 3 * n / (time.perf_counter() - start))
    return best


def peak_flops(device, device_name: str) -> tuple[float | None, str]:
    """(peak FLOP/s, where it comes from). BENCHHUB_PEAK_FLOPS overrides; CPU is measured once."""
    import torch

    override = os.environ.get("BENCHHUB_PEAK_FLOPS")
    if override:
        try:
            return float(override), "BENCHHUB_PEAK_FLOPS"
        except ValueError:
            raise RunFailure(f"BENCHHUB_PEAK_FLOPS='{override}' is not a number (FLOP/s, e.g. 989e12)") from None
    if device.type == "cuda":
        bf16 = bf16_supported()
        peak = cuda_peak_flops(device_name, bf16)
        kind = "bf16" if bf16 else "fp32"
        if peak is None:
            return None, f"no known {kind} peak for {device_name}; set BENCHHUB_PEAK_FLOPS"
        return peak, f"data sheet, dense {kind}"
    from benchhub.checkpoints import cache_root
    from benchhub.fileio import atomic_write

    key = f"{device_name} | {torch.get_num_threads()} threads | torch {torch.__version__}"
    path = cache_root() / "machine" / "cpu-peak-flops.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = measure_cpu_matmul_flops()
        atomic_write(path, json.dumps(known, indent=1))
    return known[key], f"measured fp32 1024³ matmul, {torch.get_num_threads()} threads"


def compute_record(flops_per_step: int | None, steps: int, train_seconds: float, peak: float | None,
                   peak_source: str, count_seconds: float) -> dict:
    achieved = flops_per_step * steps / train_seconds if flops_per_step and train_seconds else None
    return {"flops_per_step": flops_per_step, "flops_count_seconds": round(count_seconds, 3),
            "achieved_flops_per_second": achieved, "peak_flops_per_second": peak, "peak_source": peak_source,
            "mfu": achieved / peak if achieved and peak else None}
