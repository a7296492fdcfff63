"""Measuring memory: live tensor bytes, process peaks, the CUDA cap, out-of-memory errors.

On CUDA the peaks come from the caching allocator (allocated and reserved); on CPU a dispatch mode
counts the bytes of live tensors (the CPU analogue of "allocated") and the process's peak resident
set size (VmHWM, reset before each measurement) stands for "reserved". The same tensor accounting
runs on fake tensors, which is how `benchhub plan` estimates peaks without weights.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import weakref


def storage_bytes(tensors) -> int:
    """Bytes of the distinct storages behind `tensors` (views and tied weights count once)."""
    seen, total = set(), 0
    for t in tensors:
        if t is None:
            continue
        storage = t.untyped_storage()
        if storage._cdata not in seen:
            seen.add(storage._cdata)
            total += storage.nbytes()
    return total


def tensor_memory(fake_scalars: bool = False):
    """A dispatch mode that tracks the bytes of live tensor storages and their peak.

    `track()` registers tensors that exist before the mode is entered (weights, the batch).
    With `fake_scalars`, data-dependent scalars of fake tensors (`.item()`, `int(t.sum())`) answer
    a harmless placeholder instead of raising, so a whole training step runs on fake tensors.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class TensorMemory(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.live: dict[int, int] = {}
            self.current = 0
            self.peak = 0

        def _free(self, key: int) -> None:
            self.current -= self.live.pop(key, 0)

        def track(self, *tensors) -> None:
            for t in tensors:
                if not isinstance(t, torch.Tensor):
                    continue
                storage = t.untyped_storage()
                key = storage._cdata
                if key in self.live:
                    continue
                self.live[key] = storage.nbytes()
                weakref.finalize(storage, self._free, key)
                self.current += self.live[key]
                self.peak = max(self.peak, self.current)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if fake_scalars and func is torch.ops.aten._local_scalar_dense.default:
                t = args[0]
                return False if t.dtype == torch.bool else (1.0 if t.is_floating_point() else 1)
            out = func(*args, **(kwargs or {}))
            self.track(*tree_flatten(out)[0])
            return out

    return TensorMemory()


# ---------------------------------------------------------------- process-level peaks


def _status_kib(field: str) -> int | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def current_rss() -> int | None:
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else None


def release_freed_memory(device, collect: bool = False) -> None:
    """Return freed memory to the system so the next peak measurement starts low.

    `collect`: run the garbage collector first (after an OOM, whose traceback holds tensors);
    it costs ~0.2 s with transformers loaded, so it is not done by default.
    """
    if collect:
        gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


_HIGH_WATER: dict[str, int] = {}


def reset_process_peak(device, keep: bool = True) -> None:
    """CUDA: reset the allocator's peaks. CPU: reset this process's VmHWM (Linux clear_refs 5).

    `keep`: the peak before the reset still counts in `run_peak` (the whole run's peak); a
    micro-batch trial that did not fit is dropped with keep=False, since the run does not use it.
    """
    import torch

    if keep:
        for key, value in process_peak(device).items():
            _HIGH_WATER[key] = max(_HIGH_WATER.get(key, 0), value)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):  # without it VmHWM stays the process's lifetime peak
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def process_peak(device) -> dict:
    """Peak since the last reset: CUDA allocated/reserved; CPU resident set size (VmHWM)."""
    import resource

    import torch

    if device.type == "cuda":
        return {"allocated": torch.cuda.max_memory_allocated(device), "reserved": torch.cuda.max_memory_reserved(device)}
    kib = _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss": kib * 1024}


def run_peak(device) -> dict:
    """This process's peak over its whole life (across resets): what a run's record reports."""
    return {key: max(value, _HIGH_WATER.get(key, 0)) for key, value in process_peak(device).items()}


def cap_cuda_memory(device, limit: int | None) -> float | None:
    """Cap this process's CUDA caching allocator at `limit` bytes; returns the fraction set."""
    import torch

    if device.type != "cuda" or limit is None:
        return None
    total = torch.cuda.get_device_properties(device).total_memory
    fraction = min(1.0, limit / total)
    torch.cuda.set_per_process_memory_fraction(fraction, device)
    return fraction


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@contextlib.contextmanager
def uncapped(device, limit: int | None):
    """Lift the CUDA memory cap for a check that is not part of the budget; put it back after."""
    if device.type != "cuda" or limit is None:
        yield
        return
    import torch

    torch.cuda.set_per_process_memory_fraction(1.0, device)
    try:
        yield
    finally:
        cap_cuda_memory(device, limit)


def run_memory(device) -> dict:
    """The run process's peaks for its record: CUDA allocator allocated/reserved; CPU resident set size."""
    peaks = run_peak(device)
    if device.type == "cuda":
        return {"kind": "cuda", "peak_bytes": peaks["reserved"], "allocated_bytes": peaks["allocated"],
                "reserved_bytes": peaks["reserved"]}
    return {"kind": "cpu-rss", "peak_bytes": peaks["rss"]}
