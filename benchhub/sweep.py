"""Choosing a learning rate: the grid point with the best validation score (never the evaluation split)."""
from __future__ import annotations

from benchhub.records import RunRecord
from benchhub.spec import Cell


def choose_lr(cell: Cell, results: dict[float, RunRecord]) -> dict | None:
    """The selection of a finished sweep: each rate's validation score and the rate chosen.

    Only runs that finished within budget compete; a tie goes to the earlier rate of the grid.
    None when no rate has a validation score.
    """
    records = [results[lr] for lr in cell.grid if results[lr] is not None]
    if not records:
        return None
    scoring = records[0].scoring
    metric = scoring.get("primary")
    higher = scoring.get("higher_is_better", {}).get(metric, True)
    scores = {lr: r.split_score("validation") for lr, r in results.items() if r is not None and r.status.ranked}
    scores = {lr: s for lr, s in scores.items() if s is not None}
    if not scores:
        return None
    chosen = max(scores, key=lambda lr: (scores[lr] if higher else -scores[lr], -cell.grid.index(lr)))
    examples = next(((r.scores.get("validation") or {}).get("examples") for r in records if r.scores), None)
    summary = ", ".join(f"{lr:g}: {scores[lr]:.3f}" if lr in scores else
                        f"{lr:g}: {results[lr].status if results[lr] else 'not run'}"
                        for lr in cell.grid)
    return {"grid": list(cell.grid), "chosen": chosen, "metric": metric, "split": "validation",
            "examples": examples, "validation": {f"{lr:g}": scores.get(lr) for lr in cell.grid},
            "seed": cell.seeds[0], "summary": summary}
