"""Choosing a learning rate: the grid point with the best validation score (never the evaluation split), and
how firm that choice was."""
from __future__ import annotations

from benchhub.records import RunRecord
from benchhub.spec import Cell


def choose_lr(cell: Cell, results: dict[tuple, RunRecord | None], rates: list | None = None) -> dict | None:
    """The selection of a finished sweep (`results`: (lr, sweep seed) -> record) among `rates` (default: the
    whole grid; successive halving passes the rates still in): each rate's validation score (mean over the sweep
    seeds) with its 95 % interval, the rate chosen, and whether the runner-up is within noise of it (a paired
    difference on the validation examples).

    Only runs that finished within budget compete; a rate competes only when every sweep seed of it did; a
    tie goes to the earlier rate of the grid. None when no rate has a validation score.
    """
    by_rate = {lr: [results.get((lr, seed)) for seed in cell.sweep_seeds] for lr in rates or cell.grid}
    finished = [r for runs in by_rate.values() for r in runs if r is not None]
    if not finished:
        return None
    metric, higher = objective(finished)
    scores = rate_scores(by_rate)
    if not scores:
        return None
    order = ranked(scores, cell.grid, higher)
    chosen = order[0]
    examples = next(((r.scores.get("validation") or {}).get("examples") for r in finished if r.scores), None)
    summary = ", ".join(f"{lr:g}: {scores[lr]:.3f}" if lr in scores else f"{lr:g}: {_why_not(by_rate[lr])}"
                        for lr in by_rate)
    selection = {"grid": list(cell.grid), "chosen": chosen, "metric": metric, "split": "validation",
                 "examples": examples, "validation": {f"{lr:g}": scores.get(lr) for lr in cell.grid},
                 "seeds": list(cell.sweep_seeds), "summary": summary}
    selection.update(firmness(by_rate, order, metric, len(cell.sweep_seeds)))
    if selection.get("runner_up"):
        runner = selection["runner_up"]
        selection["summary"] += f"; runner-up {runner['lr']:g} " + (
            "within noise" if runner["within_noise"] else "significantly worse")
    return selection


def objective(records: list[RunRecord]) -> tuple[str | None, bool]:
    """(the primary metric, whether higher is better) of a sweep's records."""
    scoring = records[0].scoring
    metric = scoring.get("primary")
    return metric, scoring.get("higher_is_better", {}).get(metric, True)


def rate_scores(by_rate: dict[float, list]) -> dict[float, float]:
    """Each rate's mean validation score over its sweep seeds; a rate one of whose runs did not finish within
    budget (or has no validation score) does not compete."""
    scores = {}
    for lr, runs in by_rate.items():
        values = [r.split_score("validation") if r is not None and r.status.ranked else None for r in runs]
        if values and all(v is not None for v in values):
            scores[lr] = sum(values) / len(values)
    return scores


def ranked(scores: dict[float, float], grid: tuple, higher: bool) -> list[float]:
    """The competing rates, best first (a tie goes to the earlier rate of the grid)."""
    return sorted(scores, key=lambda lr: (-scores[lr] if higher else scores[lr], grid.index(lr)))


def _why_not(runs: list) -> str:
    return next((str(r.status) for r in runs if r is not None and not r.status.ranked), "not run")


def firmness(by_rate: dict, order: list, metric: str, sweep_seeds: int) -> dict:
    """Each competing rate's validation interval and the chosen rate's paired difference to the runner-up.

    With one sweep seed the intervals count the validation examples only (the seed-to-seed spread of a rate
    is not measured: `noise` says so); with two or more, seeds too (`stats.seed_aware_difference`)."""
    from benchhub.paired import CONFIDENCE, difference, example_matrix
    from benchhub.stats import mean_interval

    vary = sweep_seeds >= 2
    matrices = {lr: example_matrix(by_rate[lr], "validation", metric) for lr in order}
    intervals = {}
    for lr in order:
        m = matrices[lr]
        interval = mean_interval(m[1], seeds_vary=vary, confidence=CONFIDENCE) if m else None
        intervals[f"{lr:g}"] = [interval.low, interval.high] if interval and interval.half_width is not None else None
    out = {"intervals": intervals, "noise": "validation examples and sweep seeds" if vary else
           "validation examples only (one sweep seed)"}
    if len(order) > 1:
        diff = difference(by_rate[order[0]], by_rate[order[1]], "validation", metric, vary=(vary, vary))
        if diff is not None:
            out["runner_up"] = {"lr": order[1], "difference": diff.estimate, "low": diff.low, "high": diff.high,
                                "within_noise": not diff.significant}
    return out
