"""Measured memory and compute: tensor-level peaks, process peaks, the micro-batch search, FLOPs, MFU.

Memory of a training step is split into weights, gradients, optimizer state and activations/other.
On CUDA the peaks come from the caching allocator (allocated and reserved); on CPU a dispatch mode
counts the bytes of live tensors (the CPU analogue of "allocated") and the process's peak resident
set size (VmHWM, reset before each measurement) stands for "reserved". The same tensor accounting
runs on fake tensors, which is how `benchhub plan` estimates peaks without weights.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import math
import os
import re
import time
import weakref

from benchhub.errors import RunFailure


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


# ---------------------------------------------------------------- one measured training step


def bf16_supported() -> bool:
    """Native bf16 on the current CUDA device (not the emulation torch reports on e.g. V100)."""
    import torch

    return torch.cuda.is_bf16_supported(including_emulation=False)


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


@contextlib.contextmanager
def _scratch_train_mode(model, restore_buffers: bool = True):
    """Train mode for a measurement pass; afterwards no gradients, the previous mode, and the
    buffers (e.g. BatchNorm statistics the forward updated) as they were."""
    import torch

    buffers = {name: b.detach().clone() for name, b in model.named_buffers()} if restore_buffers else {}
    was_training = model.training
    model.train()
    try:
        yield
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        with torch.no_grad():
            for name, value in buffers.items():
                model.get_buffer(name).copy_(value)


def probe_step(bundle, micro_batches: list[dict], weight_decay: float = 0.0, *, fake: bool = False,
               precision: str | None = None, keep_previous_peak: bool = True) -> dict:
    """One steady-state training step, measured; no weight, buffer or gradient changes.

    It reproduces training from its second optimizer step on: the weights and AdamW's moments
    exist (a first AdamW step with zero gradients and learning rate 0 creates them), all k
    collated micro-batches of the effective batch are held, the first (heaviest) goes forward and
    backward (a second time when k > 1, now with the first one's gradients alive, as for micro-
    batches 2..k), and AdamW steps with learning rate 0. Returns bytes of weights, gradients,
    optimizer state, the step's tensor peak, activations/other = peak − those three (batches,
    activations, temporaries); on CUDA also the reserved peak, on CPU the process's RSS peak.
    `fake=True` runs on fake tensors (plan): data-dependent scalars get placeholders, and
    `precision="bf16"` stands for a CUDA run (bf16 autocast forward, foreach AdamW). Real probes
    run exactly as training does on their device.
    """
    import torch

    from benchhub.train import accumulate_gradients

    model = bundle.model
    device = bundle.device
    params = [p for p in model.parameters() if p.requires_grad]
    state = list(model.parameters()) + list(model.buffers())
    weights = storage_bytes(state)
    on_cuda = device.type == "cuda" and not fake
    tracker = None if on_cuda else tensor_memory(fake_scalars=fake)
    if tracker is not None:
        tracker.track(*state, *[v for b in micro_batches for v in b.values() if isinstance(v, torch.Tensor)])
    if not fake:
        release_freed_memory(device)
        reset_process_peak(device, keep=keep_previous_peak)
    start = time.perf_counter()
    with _scratch_train_mode(model, restore_buffers=not fake):
        with tracker if tracker is not None else contextlib.nullcontext():
            # the optimizer as training builds it; a fake CUDA step uses the foreach kernels CUDA defaults to
            optimizer = torch.optim.AdamW(params, lr=0.0, weight_decay=weight_decay,
                                          foreach=True if fake and precision == "bf16" else None)
            for p in params:
                p.grad = torch.zeros_like(p)
            optimizer.step()  # creates the moments: from here on, as in training's later steps
            optimizer.zero_grad(set_to_none=True)
            opt_state = storage_bytes([v for s in optimizer.state.values() for v in s.values()
                                       if isinstance(v, torch.Tensor)])
            for _ in range(1 if len(micro_batches) == 1 else 2):
                if fake:  # autocast around the forward only, as in training; token counts are data
                    with torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" \
                            else contextlib.nullcontext():
                        loss = bundle.loss_sum(micro_batches[0])[0]
                    loss.backward()
                    del loss
                else:
                    loss, tokens = accumulate_gradients(bundle, micro_batches[:1])  # training's own path
                    if not math.isfinite(loss / tokens):
                        raise RunFailure(f"non-finite loss ({loss / tokens}) before training (memory probe)")
            gradients = storage_bytes([p.grad for p in params])
            if not fake and not all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None):
                raise RunFailure("non-finite gradients in the memory probe (before training)")
            optimizer.step()  # learning rate 0: the weights do not move
            del optimizer
        if on_cuda:
            torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    result = {"weights": weights, "gradients": gradients, "optimizer": opt_state}
    if on_cuda:
        peaks = process_peak(device)
        result.update(peak_allocated=peaks["allocated"], peak_reserved=peaks["reserved"])
    else:
        result["peak_allocated"] = tracker.peak
        if not fake:
            result["peak_rss"] = process_peak(device)["rss"]
    result["activations_other"] = max(0, result["peak_allocated"] - weights - gradients - opt_state)
    result["seconds"] = round(seconds, 4)
    if not fake:
        release_freed_memory(device)
    return result


def heaviest_micro_batches(bundle, examples: list, effective_batch: int, micro_batch: int) -> list[dict]:
    """The effective batch of the longest examples (prompt + text), heaviest first, collated in
    micro-batches: a conservative stand-in for any training step."""
    def size(ex):
        return len(str(ex.get("prompt", ""))) + len(str(ex.get("text", "")))

    from benchhub.train import collate_micro_batches

    chosen = sorted(examples, key=size, reverse=True)[:effective_batch]
    return collate_micro_batches(bundle, chosen, micro_batch)


def process_bytes(probe: dict) -> int:
    """What a memory limit is compared with: CUDA reserved, CPU resident set size."""
    return probe.get("peak_reserved", probe.get("peak_rss", probe["peak_allocated"]))


def divisors_descending(n: int, at_most: int) -> list[int]:
    return [d for d in range(min(n, at_most), 0, -1) if n % d == 0]


def search_micro_batch(bundle, examples: list, budget, log=lambda *a: None) -> dict:
    """The largest divisor of the effective batch whose measured step peak stays under the limit.

    Tries divisors of the effective batch from the budget's micro-batch downwards (16, 8, 4, 2, 1
    for 16) on the heaviest examples and stops at the first that fits: one probe step when the
    whole micro-batch fits. Without a limit it measures the budget's micro-batch once (for the
    memory split). CUDA: the process is capped at the limit, so an OOM means "does not fit".
    Returns {"micro_batch": m or None, "trials": [...], "seconds": ..., "probe": split at m}.
    """
    limit = budget.memory_limit_bytes
    device = bundle.device
    candidates = divisors_descending(budget.effective_batch, budget.micro_batch)
    if limit is None:
        candidates = candidates[:1]
    trials, chosen, chosen_probe = [], None, None
    start = time.perf_counter()
    for m in candidates:
        log(f"memory probe at micro-batch {m}")
        # a trial that does not fit is not part of the run: its peak does not count in the run's
        probe = _probe_or_oom(bundle, examples, budget, m, keep_previous_peak=not trials)
        if probe is None:
            if limit is None:
                raise RunFailure(f"out of memory at micro-batch {m}; set a memory_limit to let benchhub search "
                                 "a micro-batch that fits")
            trials.append({"micro_batch": m, "fits": False, "peak_bytes": None, "out_of_memory": True})
            continue
        fits = limit is None or process_bytes(probe) <= limit
        trials.append({"micro_batch": m, "fits": fits, "peak_bytes": process_bytes(probe),
                       "peak_allocated_bytes": probe["peak_allocated"], "seconds": probe["seconds"]})
        if fits:
            chosen, chosen_probe = m, probe
            break
    result = {"micro_batch": chosen, "trials": trials, "probe": chosen_probe}
    if chosen is None:
        result["needed_bytes"], result["needed_is_lower_bound"] = _needed(bundle, examples, budget, trials)
    result["seconds"] = round(time.perf_counter() - start, 3)
    reset_process_peak(device, keep=chosen is not None)  # from here: training's and evaluation's peak
    return result


def _probe_or_oom(bundle, examples: list, budget, micro_batch: int, keep_previous_peak: bool) -> dict | None:
    """probe_step at `micro_batch`, or None when it ran out of memory (then the memory is given back)."""
    try:
        batches = heaviest_micro_batches(bundle, examples, budget.effective_batch, micro_batch)
        return probe_step(bundle, batches, budget.weight_decay, keep_previous_peak=keep_previous_peak)
    except Exception as exc:  # noqa: BLE001 - only OOM is an answer; anything else is a failure
        if not is_out_of_memory(exc):
            raise
    bundle.model.zero_grad(set_to_none=True)
    release_freed_memory(bundle.device, collect=True)  # outside `except`: the traceback is gone
    return None


def _needed(bundle, examples, budget, trials) -> tuple[int, bool]:
    """Memory a run needs at micro-batch 1: measured, or (CUDA OOM under the cap) measured uncapped."""
    last = trials[-1]
    if last["peak_bytes"] is not None:
        return last["peak_bytes"], False
    with uncapped(bundle.device, budget.memory_limit_bytes):  # what it would take, where the device has it
        probe = _probe_or_oom(bundle, examples, budget, 1, keep_previous_peak=False) \
            if bundle.device.type == "cuda" else None
    if probe is not None:
        return process_bytes(probe), False
    return budget.memory_limit_bytes, True


def memory_split(probe: dict) -> dict:
    keys = ("weights", "gradients", "optimizer", "activations_other", "peak_allocated", "peak_reserved",
            "peak_rss")
    return {f"{k}_bytes": probe[k] for k in keys if k in probe}


# ---------------------------------------------------------------- FLOPs and MFU


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

    from benchhub.train import accumulate_gradients

    with _scratch_train_mode(bundle.model), \
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

    key = f"{device_name} | {torch.get_num_threads()} threads | torch {torch.__version__}"
    path = cache_root() / "machine" / "cpu-peak-flops.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = measure_cpu_matmul_flops()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return known[key], f"measured fp32 1024³ matmul, {torch.get_num_threads()} threads"


def compute_record(flops_per_step: int | None, steps: int, train_seconds: float, peak: float | None,
                   peak_source: str, count_seconds: float) -> dict:
    achieved = flops_per_step * steps / train_seconds if flops_per_step and train_seconds else None
    return {"flops_per_step": flops_per_step, "flops_count_seconds": round(count_seconds, 3),
            "achieved_flops_per_second": achieved, "peak_flops_per_second": peak, "peak_source": peak_source,
            "mfu": achieved / peak if achieved and peak else None}
