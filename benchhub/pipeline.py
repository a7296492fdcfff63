"""One run, top to bottom: build -> fit memory -> check -> train -> evaluate -> result.

Everything here runs inside the run's own child process (see `isolation`); the result is a dict
of what was measured, which `records.make_record` turns into the run's record in the parent.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from benchhub import checks, memory
from benchhub.budget import batching, format_bytes
from benchhub.components import Method, RunClasses
from benchhub.device import apply_precision, resolve_precision
from benchhub.distributed import Single
from benchhub.errors import RunFailure, first_line
from benchhub.status import Status
from benchhub.spec import RunSpec



def _silent(*event) -> None:
    pass


@dataclass
class Prepared:
    """A run after `build`: its method applied to its model, its data loaded, the first checks passed."""

    method: object
    bundle: object
    splits: object
    checks: dict
    augment: object = None  # the run's augmentation policy on training batches (`augment.Augmenter`)


def build_bundle(spec: RunSpec, classes: RunClasses, method, device):
    """The model plugin's bundle for a run, loaded quantized when the method asks for it."""
    model = classes.new_model(spec)
    if not method.quantization:
        return model.build(device, seed=spec.seed)
    if method.quantization not in model.quantizations:
        raise RunFailure(f"method '{spec.method.name}' needs a {method.quantization} base model, which model "
                         f"'{spec.model.name}' cannot load")
    bundle = model.build(device, seed=spec.seed, quantization=method.quantization)
    from benchhub.quantization import keep_trainable

    keep_trainable(bundle.model)
    return bundle


def build(spec: RunSpec, classes: RunClasses, device, phase=_silent) -> Prepared:
    """Build the bundle, load the data, apply the method; check the image matters and the method's promises."""
    import torch

    method = classes.new_method(spec)
    phase("phase", "building model")
    bundle = build_bundle(spec, classes, method, device)
    splits = classes.load_splits(spec)
    prepared = Prepared(method, bundle, splits, {})
    if spec.augment is not None:
        from benchhub.augment import Augmenter

        prepared.augment = Augmenter(classes.new_augmentation(spec), classes.new_dataset(spec), spec.seed)
    checks.check_image_conditioning(bundle, splits, prepared.checks)
    bundle.total_steps = spec.budget.total_steps(len(splits.train))
    torch.manual_seed(spec.seed)
    prepared.bundle = method.prepare(bundle) or bundle
    checks.check_promises(method, prepared.bundle, spec.method_label)
    # the precision policy, once the method has chosen what trains (frozen-bf16 holds the rest in bf16)
    prepared.bundle.precision = resolve_precision(spec.budget.precision, device)
    prepared.bundle.parameter_bytes = apply_precision(prepared.bundle.model, prepared.bundle.precision)
    return prepared


def check_only(spec: RunSpec, classes: RunClasses, device, phase=_silent) -> dict:
    """`benchhub check`: every self-check of a run, nothing trained."""
    run = build(spec, classes, device, phase)
    if run.method.trains:
        phase("phase", "checking accumulation")
        checks.check_accumulation(run.bundle, run.splits.train[:8], run.checks)
    trainable, total = run.bundle.parameter_counts()
    return {"status": "ok", "checks": run.checks, "parameters": {"trainable": trainable, "total": total}}


def execute(spec: RunSpec, classes: RunClasses, device, phase=_silent, weights_dir: str | None = None,
            score: tuple = ("eval", "source"), ranks=None, resume=None) -> dict:
    """Build, fit into memory, check, train and score one run in this process; returns what was measured.

    `score`: the splits scored after training: a learning-rate sweep scores only "validation".
    `ranks`: this process's place in a data-parallel run (`distributed`); rank 0 evaluates, the others
    return their training time and memory.
    """
    import torch

    ranks = ranks or Single()
    limit = spec.budget.memory_limit_bytes
    torch.manual_seed(spec.seed)
    baseline_rss = memory.current_rss() if device.type == "cpu" else None
    _start_device(device, limit)
    try:
        run = build(spec, classes, device, phase)
    except Exception as exc:
        if limit is not None and memory.is_out_of_memory(exc):  # the weights alone do not fit
            return does_not_fit(spec, device, limit, True, None, {}, None, None)
        raise
    trainable, total = run.bundle.parameter_counts()
    parameters = {"trainable": trainable, "total": total, "manifest": run.bundle.manifest()}
    fitted = fit(spec, run, device, phase, ranks) if run.method.trains else None
    if fitted is not None and fitted["micro_batch"] is None:
        return does_not_fit(spec, device, fitted["needed_bytes"], fitted["needed_is_lower_bound"], fitted,
                            run.checks, parameters, run.splits.info)
    budget = dataclasses.replace(spec.budget, micro_batch=fitted["micro_batch"]) if fitted else spec.budget
    trained = train(spec, run, budget, device, phase, ranks, resume) if run.method.trains else {}
    if ranks.rank > 0:
        return {"status": "ok", **trained, "memory": _memory(device, baseline_rss, fitted)}
    phase("phase", "evaluating")
    scored = evaluate(spec, classes, run.bundle, run.splits, score)
    saved = save(run, weights_dir) if weights_dir and run.method.trains else {}
    data = {**run.splits.info, **({"notes": sorted(run.bundle.notes)} if run.bundle.notes else {})}
    result = {"status": "ok", "checks": run.checks, "parameters": parameters, "batching": batching(budget),
              "data": data, "precision": {"policy": run.bundle.precision, "parameter_bytes": run.bundle.parameter_bytes},
              **trained, **scored, **saved}
    result["memory"] = _memory(device, baseline_rss, fitted)
    return result


def _start_device(device, limit: int | None) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(device)  # bf16 checks and synchronize then look at this device
        torch.cuda.reset_peak_memory_stats(device)
        memory.cap_cuda_memory(device, limit)


def fit(spec: RunSpec, run: Prepared, device, phase=_silent, ranks=None) -> dict:
    """The micro-batch search (see `fit_memory.search_micro_batch`), then the accumulation check.

    Each data-parallel rank searches within its share of the effective batch; they agree on the smallest.
    """
    from benchhub.fit_memory import search_micro_batch

    ranks = ranks or Single()
    phase("phase", "measuring memory")
    share = dataclasses.replace(spec.budget, effective_batch=spec.budget.rank_batch, processes=1)
    search = search_micro_batch(run.bundle, run.splits.train, share, log=lambda m: phase("phase", m))
    search["micro_batch"] = ranks.minimum(search["micro_batch"] or 0) or None
    if search["micro_batch"] is not None:
        phase("phase", "checking accumulation")
        with memory.uncapped(device, spec.budget.memory_limit_bytes):  # a check, not part of the budget
            checks.check_accumulation(run.bundle, run.splits.train[:8], run.checks)
    return search


def train(spec: RunSpec, run: Prepared, budget, device, phase=_silent, ranks=None, resume=None) -> dict:
    """FLOPs of one step, then the shared training loop; returns the record's train and compute parts."""
    from benchhub import compute
    from benchhub.device import device_name
    from benchhub.train import batch_indices, collate_micro_batches, stop_step, train_loop

    ranks = ranks or Single()
    phase("phase", "counting FLOPs")
    first = next(batch_indices(len(run.splits.train), budget.effective_batch, spec.seed))
    micro = collate_micro_batches(run.bundle, [run.splits.train[i] for i in first], budget.micro_batch)
    count_start = time.perf_counter()
    flops = compute.step_flops(run.bundle, micro)  # the whole step's, whatever the processes
    count_seconds = time.perf_counter() - count_start
    del micro
    phase("phase", "training")
    ranks.wrap(run.bundle)
    if resume is not None and (ranks.world > 1 or type(run.method).after_optimizer_step
                               is not Method.after_optimizer_step):
        resume = None  # a state outside the tensors saved (another rank's, a method's own): not resumable
    stats = train_loop(run.bundle, run.splits.train, budget, spec.lr, spec.seed, method=run.method,
                       progress=lambda s, n, loss: phase("step", s, n, loss), max_seconds=budget.max_seconds,
                       ranks=ranks, resume=resume, stop_at=stop_step(budget.total_steps(len(run.splits.train)),
                                                                     spec.rung) if spec.rung else None,
                       augment=run.augment)
    ranks.close()  # not on an error: the process exits, and benchhub ends the other ranks
    peak, source = compute.peak_flops(device, device_name(device))
    per_second = (lambda n: round(n / stats.seconds, 2) if stats.seconds else None)
    curve_every = max(1, len(stats.losses) // 50)
    return {"train": {"seconds": round(stats.seconds, 3), "steps": stats.steps, "samples": stats.samples,
                      "samples_per_second": per_second(stats.samples), "target_tokens": stats.target_tokens,
                      "tokens_per_second": round(stats.target_tokens / stats.seconds, 1) if stats.seconds else None,
                      "final_loss": stats.final_loss, "loss_curve": stats.losses[::curve_every],
                      "stopped_by": stats.stopped_by, "planned_steps": budget.total_steps(len(run.splits.train)),
                      **({"resume": resume.report()} if resume is not None and resume.report() else {})},
            "compute": compute.compute_record(flops, stats.steps, stats.seconds, peak, source, count_seconds)}


SPLITS = ("eval", "validation", "source")


def evaluate(spec: RunSpec, classes: RunClasses, bundle, splits, score: tuple) -> dict:
    """Predictions for each held-out split in `score` that the data have, scored by every metric.

    The evaluation split's scores are the record's `metrics` (and `eval`); validation and source
    scores go to `scores`; per-example scores of every split to `per_example`.
    """
    out: dict = {"scores": {}, "per_example": {}}
    for split in (s for s in SPLITS if s in score):
        examples = getattr(splits, split)
        if not examples:
            continue
        scored = score_split(spec, classes, bundle, examples)
        out["per_example"][split] = scored.pop("per_example")
        if split == "eval":
            out["metrics"], out["skipped_metrics"] = scored.pop("metrics"), scored.pop("skipped")
            out["eval"] = scored
        else:
            scored.pop("skipped")
            scored.pop("samples")
            out["scores"][split] = scored
    return out


def score_split(spec: RunSpec, classes: RunClasses, bundle, examples: list) -> dict:
    """One held-out split: predictions, corpus and per-example scores, timings."""
    start = time.perf_counter()
    predictions, eval_batch = predict_within_memory(bundle, examples, 64)
    gen_seconds = time.perf_counter() - start
    references = [ex["references"] for ex in examples]
    scores, per_example, skipped = {}, {"ids": [str(ex.get("id", i)) for i, ex in enumerate(examples)]}, {}
    for metric in classes.new_metrics(spec):
        corpus, each = metric.score(predictions, references)
        scores.update(corpus)
        per_example.update(each)
        skipped.update(metric.skipped)
    bad = [k for k, v in scores.items() if v != v]
    if bad:
        raise RunFailure(f"metric {bad[0]} is NaN")
    return {"metrics": scores, "skipped": skipped, "per_example": per_example,
            "seconds": round(time.perf_counter() - start, 6), "generation_seconds": round(gen_seconds, 6),
            "examples": len(predictions), "batch_size": eval_batch,
            "samples": [{"prediction": p, "references": r} for p, r in zip(predictions[:5], references)]}


def predict_within_memory(bundle, examples: list, batch_size: int) -> tuple[list, int]:
    """Predictions in batches of `batch_size`, halved after each out-of-memory error (a CUDA cap)."""
    while True:
        try:
            return bundle.predict(examples, batch_size=batch_size), batch_size
        except Exception as exc:  # noqa: BLE001
            if batch_size == 1 or not memory.is_out_of_memory(exc):
                raise
        batch_size //= 2
        memory.release_freed_memory(bundle.device, collect=True)


def save(run: Prepared, weights_dir: str) -> dict:
    """Save the trained weights; the metrics are in hand, so a failed save is noted, not fatal."""
    import traceback

    try:
        run.bundle.save(weights_dir)
        return {"weights": weights_dir}
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        return {"weights_error": first_line(exc, with_type=True)}


def _memory(device, baseline_rss: int | None, fitted: dict | None) -> dict:
    """The run's memory: process peaks, the baseline before the model, the probe's split and search."""
    from benchhub.fit_memory import memory_split

    out = memory.run_memory(device)
    if baseline_rss is not None:
        out["baseline_rss_bytes"] = baseline_rss  # the process before the model: libraries, runtime
    if fitted is not None:
        out["split"] = memory_split(fitted["probe"])
        out["search"] = {k: fitted[k] for k in ("trials", "seconds")}
    return out


def does_not_fit(spec: RunSpec, device, needed: int | None, lower_bound: bool, search: dict | None,
                 checks_done: dict, parameters: dict | None, data) -> dict:
    """The result of a run whose training step does not fit its memory limit even at micro-batch 1."""
    mem = memory.run_memory(device)
    mem.update(needed_bytes=needed, needed_is_lower_bound=lower_bound)
    if search is not None:
        mem["search"] = {k: search[k] for k in ("trials", "seconds")}
    need = f"{'more than ' if lower_bound else ''}{format_bytes(needed)}"
    return {"status": Status.DOES_NOT_FIT.value, "error": f"does not fit "
            f"{format_bytes(spec.budget.memory_limit_bytes)} even at micro-batch 1 (needs {need})",
            "checks": checks_done, "parameters": parameters, "memory": mem, "data": data}
