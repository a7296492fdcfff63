"""Speed of benchhub's training loop vs a plain hand-written PyTorch loop vs 🤗 Trainer.

Same model (the tiny BLIP-2 checkpoint), method (full fine-tuning), data (shapes target domain),
batch, steps, schedule and seed; each loop runs `--rounds` times, interleaved, and the median is
compared. Run: `.venv/bin/python benchmarks/speed.py [--steps 100] [--rounds 3]`.
Goals (issue 5): benchhub ≤ 1.03 × the hand loop, and faster than Trainer.
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import torch


def fresh_bundle():
    from benchhub_plugins.models.blip2 import Blip2

    torch.manual_seed(0)
    bundle = Blip2().build(torch.device("cpu"))
    bundle.model.requires_grad_(True)
    return bundle


def data(n: int):
    from benchhub_plugins.datasets.shapes import Shapes

    return Shapes(train_size=n, eval_size=1).load(seed=0).train


def run_benchhub(examples, steps, batch, lr) -> float:
    from benchhub.records import Budget
    from benchhub.train import train_loop

    bundle = fresh_bundle()
    budget = Budget(effective_batch=batch, micro_batch=batch, max_steps=steps, warmup_ratio=0.05)
    start = time.perf_counter()
    train_loop(bundle, examples, budget, lr, seed=0)
    return time.perf_counter() - start


def run_hand(examples, steps, batch, lr) -> float:
    """What one would write by hand: shuffle, collate, forward, token-mean loss, backward, clip, step."""
    import torch.nn.functional as F

    bundle = fresh_bundle()
    model = bundle.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = int(0.05 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warmup if s < warmup else
                                              0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    gen = torch.Generator().manual_seed(0)
    order: list[int] = []
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        while len(order) < batch:
            order += torch.randperm(len(examples), generator=gen).tolist()
        idx, order = order[:batch], order[batch:]
        b = bundle.collate([examples[i] for i in idx])
        logits = model(pixel_values=b["pixel_values"], input_ids=b["input_ids"],
                       attention_mask=b["attention_mask"]).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), b["labels"][:, 1:].reshape(-1),
                               ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def run_trainer(examples, steps, batch, lr) -> float:
    from transformers import Trainer, TrainingArguments

    bundle = fresh_bundle()

    class TokenLossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            loss, n = bundle.loss_sum(inputs)
            return loss / n

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, max_steps=steps,
                                 learning_rate=lr, lr_scheduler_type="cosine", warmup_steps=int(0.05 * steps), weight_decay=0.0,
                                 max_grad_norm=1.0, logging_strategy="no", save_strategy="no", report_to=[],
                                 dataloader_num_workers=0, use_cpu=True, seed=0, disable_tqdm=True,
                                 remove_unused_columns=False)
        trainer = TokenLossTrainer(model=bundle.model, args=args, train_dataset=examples,
                                   data_collator=bundle.collate)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # no metrics dict printed at the end
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    examples = data(300)
    loops = {"benchhub": run_benchhub, "hand loop": run_hand, "HF Trainer": run_trainer}
    for fn in loops.values():  # warm-up: imports, first-call allocations
        fn(examples, 3, args.batch, 1e-3)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, fn in loops.items():
            times[name].append(fn(examples, args.steps, args.batch, 1e-3))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.steps} steps, batch {args.batch}, full fine-tuning of the tiny BLIP-2, median of {args.rounds} "
          f"interleaved rounds ({torch.get_num_threads()} threads)")
    for name, t in times.items():
        print(f"  {name:<11} {med[name]:7.2f} s   ({', '.join(f'{x:.2f}' for x in t)})")
    best = {name: min(t) for name, t in times.items()}
    print(f"benchhub / hand loop  = {med['benchhub'] / med['hand loop']:.3f}   (goal ≤ 1.03; best of rounds: "
          f"{best['benchhub'] / best['hand loop']:.3f})")
    print(f"benchhub / HF Trainer = {med['benchhub'] / med['HF Trainer']:.3f}   (goal < 1; best of rounds: "
          f"{best['benchhub'] / best['HF Trainer']:.3f})")


if __name__ == "__main__":
    main()
