"""The training loop every method shares: same sampler, same accumulation, same schedule."""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from benchhub.device import autocast, to_device
from benchhub.distributed import Single
from benchhub.errors import RunFailure


@dataclass
class TrainStats:
    steps: int
    samples: int
    target_tokens: int
    seconds: float
    final_loss: float | None
    losses: list
    stopped_by: str = "steps"  # or "time": the budget's max_seconds ran out first; "rung": a halving rung's stop


def lr_factor(schedule: str, warmup_steps: int, total_steps: int):
    """Multiplier of the peak learning rate at each optimizer step (linear warm-up, then schedule)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def stop_step(planned: int, rung: int) -> int:
    """The optimizer step a successive-halving rung (`benchhub.halving`) stops after: 1/rung of the planned
    steps, rounded up."""
    return max(1, -(-planned // rung))


def batch_indices(n: int, batch: int, seed: int):
    """Endless stream of index batches: a fresh seeded permutation every epoch."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    pending: list[int] = []
    while True:
        while len(pending) < batch:
            pending += torch.randperm(n, generator=gen).tolist()
        yield pending[:batch]
        pending = pending[batch:]


def collate_micro_batches(bundle, examples: list, micro_batch: int) -> list[dict]:
    """`examples` (one effective batch) collated in consecutive micro-batches of `micro_batch`."""
    return [bundle.collate(examples[i:i + micro_batch]) for i in range(0, len(examples), micro_batch)]


@contextlib.contextmanager
def scratch_train_mode(model, restore_buffers: bool = True):
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


def accumulate_gradients(bundle, micro_batches: list[dict], mixed_precision: bool = True,
                         ranks=Single()) -> tuple[float, int]:
    """Backward over micro-batches with the loss divided by the *total* target tokens.

    k micro-batches of N/k then give exactly the gradient of one batch of N, whatever the
    padding of each micro-batch. Returns (summed loss, target tokens) of the whole effective batch.
    With data-parallel `ranks`, the micro-batches are this rank's share: the tokens are summed over
    the ranks, and the loss scaled by their number, since DDP averages the ranks' gradients.
    """
    own_tokens = sum(bundle.count_targets(b) for b in micro_batches)
    n_tokens = int(ranks.total(own_tokens))
    if n_tokens == 0:
        raise RunFailure("a training batch has no target tokens (all labels are -100)")
    total, counted = 0.0, 0
    for i, batch in enumerate(micro_batches):
        with ranks.forward(bundle, sync=i == len(micro_batches) - 1):
            with autocast(bundle.device, bundle.precision) if mixed_precision else contextlib.nullcontext():
                loss_sum, tokens = bundle.loss_sum(to_device(batch, bundle.device))
            (loss_sum * ranks.world / n_tokens).backward()
        total += float(loss_sum.detach())
        counted += tokens
    if counted != own_tokens:
        raise RunFailure(f"{type(bundle).__name__}.loss_sum counted {counted} target tokens but count_targets "
                         f"{own_tokens}: the loss would be mis-normalised")
    return ranks.total(total), n_tokens


def accumulation_error(bundle, examples: list, pieces: int = 4) -> float:
    """Max relative gradient error of `pieces` micro-batches vs one batch of the same examples.

    Runs in eval mode (no dropout) and leaves no gradients behind. The examples should differ in
    length so that micro-batches pad differently.
    """
    import torch

    params = [p for p in bundle.model.parameters() if p.requires_grad]
    if not params or len(examples) < 2:
        return 0.0
    pieces = max(2, min(pieces, len(examples)))
    size = len(examples) // pieces
    examples = examples[:size * pieces]
    was_training = bundle.model.training
    bundle.model.eval()
    grads = []
    try:
        for split in ([examples], [examples[i:i + size] for i in range(0, len(examples), size)]):
            bundle.model.zero_grad(set_to_none=True)
            # float32 (no bf16 autocast on CUDA): the check is about normalisation, not rounding
            loss, tokens = accumulate_gradients(bundle, [bundle.collate(chunk) for chunk in split],
                                                mixed_precision=False)
            if not math.isfinite(loss / tokens):
                raise RunFailure(f"non-finite loss ({loss / tokens}) before training (accumulation check)")
            grads.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float()
                                    for p in params]))
    finally:
        bundle.model.zero_grad(set_to_none=True)
        bundle.model.train(was_training)
    full, accumulated = grads
    scale = full.abs().max().item()
    return (accumulated - full).abs().max().item() / scale if scale else 0.0


ACCUMULATION_TOLERANCE = 1e-5


def new_optimizer(params: list, lr: float, weight_decay: float):
    """AdamW; fused (one kernel for every parameter, ~4× faster steps for small models on CPU) where
    torch supports the parameters' devices and dtypes."""
    import torch

    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16, torch.bfloat16)
                for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


def _optimizer_step(params: list, optimizer, scheduler, max_grad_norm, after) -> None:
    """Clip, step the optimizer and the schedule, let the method look at the gradients (AdaLoRA), clear them."""
    import torch

    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    after()
    optimizer.zero_grad(set_to_none=True)


def _step_gradients(bundle, examples: list, indices: list, augment, budget, ranks, step: int) -> tuple[float, int]:
    """One optimizer step's gradients over this rank's share of the effective batch (augmented by the run's
    policy, if it has one): (its loss, target tokens)."""
    batch = [examples[i] for i in indices]
    batch = augment(batch, step) if augment else batch
    loss_sum, n_tokens = accumulate_gradients(bundle, collate_micro_batches(bundle, batch, budget.micro_batch),
                                              ranks=ranks)
    loss = loss_sum / n_tokens
    if not math.isfinite(loss):
        raise RunFailure(f"non-finite loss ({loss}) at step {step}")
    return loss, n_tokens


def train_loop(bundle, examples: list, budget, lr: float, seed: int, *, method=None,
               progress=None, max_seconds: float | None = None, ranks=Single(), resume=None,
               stop_at: int | None = None, augment=None) -> TrainStats:
    """Train the parameters that require grad under `budget`; return what happened. Data-parallel `ranks`
    (`distributed`) each draw the same effective batch and train on their share. `resume` (`benchhub.resume`):
    the state is saved as it says, and training continues from a saved state of this run. `stop_at`: a halving
    rung stops after this step of the planned schedule and saves its state there. `augment(examples, step)`:
    the run's augmentation policy on each step's examples (`benchhub.augment`)."""
    import torch

    torch.manual_seed(seed)
    if not examples:
        raise RunFailure("the training set is empty (check the dataset's split options)")
    params = [p for p in bundle.model.parameters() if p.requires_grad]
    total_steps = budget.total_steps(len(examples))
    if not params:
        return TrainStats(0, 0, 0, 0.0, None, [])
    optimizer = new_optimizer(params, lr, budget.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(budget.lr_schedule, int(
        budget.warmup_ratio * total_steps), total_steps))
    sampler = batch_indices(len(examples), budget.effective_batch, seed)
    bundle.model.train()
    named = {n: p for n, p in bundle.model.named_parameters() if p.requires_grad}
    last = min(total_steps, stop_at or total_steps)
    first, losses, tokens, done_seconds = (resume.restore(total_steps, bundle.model, named, optimizer, scheduler,
                                                          sampler, last) if resume else (1, [], 0, 0.0))
    step, stopped_by = first - 1, "steps"
    start = time.perf_counter() - done_seconds
    for step in range(first, last + 1):
        loss, n_tokens = _step_gradients(bundle, examples, ranks.share(next(sampler)), augment, budget, ranks, step)
        _optimizer_step(params, optimizer, scheduler, budget.max_grad_norm,
                        lambda: method and method.after_optimizer_step(bundle, step, total_steps))
        losses.append(round(loss, 6))
        tokens += n_tokens
        if progress:
            progress(step, total_steps, loss)
        if resume is not None and resume.due(step, total_steps, last):  # a rung's last step: survivors go on
            resume.save(step, total_steps, bundle.model, named, optimizer, scheduler,
                        {"losses": losses, "tokens": tokens, "seconds": time.perf_counter() - start})
        out_of_time = max_seconds is not None and step < total_steps
        if out_of_time and ranks.either(time.perf_counter() - start > max_seconds):  # every rank stops together
            stopped_by = "time"
            break
    stopped_by = "rung" if last < total_steps and stopped_by == "steps" else stopped_by
    if bundle.device.type == "cuda":
        torch.cuda.synchronize(bundle.device)
    seconds = time.perf_counter() - start
    bundle.model.eval()
    return TrainStats(step, step * budget.effective_batch, tokens, seconds, losses[-1] if losses else None, losses,
                      stopped_by)
