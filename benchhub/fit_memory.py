"""Fitting a run into its memory budget: measured probe steps and the micro-batch search.

A probe step is one steady-state training step, measured, that changes no weight, buffer or
gradient. Under a memory limit the micro-batch is the largest divisor of the effective batch
whose probe fits; gradient accumulation makes up the rest.
"""
from __future__ import annotations

import contextlib
import math
import time

from benchhub.errors import RunFailure
from benchhub.memory import (is_out_of_memory, process_peak, release_freed_memory, reset_process_peak,
                             storage_bytes, tensor_memory, uncapped)
from benchhub.train import accumulate_gradients, collate_micro_batches, scratch_train_mode

BF16 = ("bf16", "bf16-mixed", "frozen-bf16")  # precisions whose forward runs under bf16 autocast


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
    `precision="bf16-mixed"` (or "frozen-bf16") stands for a CUDA run (bf16 autocast forward, foreach AdamW). Real probes
    run exactly as training does on their device.
    """
    import torch

    model, device = bundle.model, bundle.device
    state = list(model.parameters()) + list(model.buffers())
    on_cuda = device.type == "cuda" and not fake
    tracker = None if on_cuda else tensor_memory(fake_scalars=fake)
    if tracker is not None:
        tracker.track(*state, *[v for b in micro_batches for v in b.values() if isinstance(v, torch.Tensor)])
    if not fake:
        release_freed_memory(device)
        reset_process_peak(device, keep=keep_previous_peak)
    start = time.perf_counter()
    with scratch_train_mode(model, restore_buffers=not fake):
        with tracker if tracker is not None else contextlib.nullcontext():
            result = _measured_step(bundle, micro_batches, weight_decay, fake, precision)
        if on_cuda:
            torch.cuda.synchronize(device)
    result.update(weights=storage_bytes(state), seconds=round(time.perf_counter() - start, 4))
    if on_cuda:
        peaks = process_peak(device)
        result.update(peak_allocated=peaks["allocated"], peak_reserved=peaks["reserved"])
    else:
        result["peak_allocated"] = tracker.peak
        if not fake:
            result["peak_rss"] = process_peak(device)["rss"]
    result["activations_other"] = max(0, result["peak_allocated"] - result["weights"] - result["gradients"]
                                      - result["optimizer"])
    if not fake:
        release_freed_memory(device)
    return result


def _measured_step(bundle, micro_batches, weight_decay, fake, precision) -> dict:
    """The probe's step itself: AdamW with its moments, one or two backward passes, a step at lr 0."""
    import torch

    params = [p for p in bundle.model.parameters() if p.requires_grad]
    # the optimizer as training builds it; a fake CUDA step uses the foreach kernels CUDA defaults to
    optimizer = torch.optim.AdamW(params, lr=0.0, weight_decay=weight_decay,
                                  foreach=True if fake and precision in BF16 else None)
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()  # creates the moments: from here on, as in training's later steps
    optimizer.zero_grad(set_to_none=True)
    opt_state = storage_bytes([v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)])
    for _ in range(1 if len(micro_batches) == 1 else 2):
        _backward(bundle, micro_batches[0], fake, precision)
    gradients = storage_bytes([p.grad for p in params])
    if not fake and not all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None):
        raise RunFailure("non-finite gradients in the memory probe (before training)")
    optimizer.step()  # learning rate 0: the weights do not move
    return {"gradients": gradients, "optimizer": opt_state}


def _backward(bundle, batch: dict, fake: bool, precision: str | None) -> None:
    import torch

    if not fake:
        loss, tokens = accumulate_gradients(bundle, [batch])  # training's own path
        if not math.isfinite(loss / tokens):
            raise RunFailure(f"non-finite loss ({loss / tokens}) before training (memory probe)")
        return
    # autocast around the forward only, as in training; token counts are data
    with torch.autocast("cpu", dtype=torch.bfloat16) if precision in BF16 else contextlib.nullcontext():
        loss = bundle.loss_sum(batch)[0]
    loss.backward()


def heaviest_micro_batches(bundle, examples: list, effective_batch: int, micro_batch: int) -> list[dict]:
    """The effective batch of the longest examples (prompt + text), heaviest first, collated in
    micro-batches: a conservative stand-in for any training step."""
    def size(ex):
        return len(str(ex.get("prompt", ""))) + len(str(ex.get("text", "")))

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


