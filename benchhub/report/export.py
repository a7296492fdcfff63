"""The leaderboard as data: `leaderboard.json` beside `leaderboard.md`, with every seed's values."""
from __future__ import annotations

import json

from benchhub.records import RunRecord
from benchhub.report.ranking import TableStats, boards
from benchhub.report.rows import model_label


def _difference(diff) -> dict | None:
    if diff is None:
        return None
    return {"estimate": diff.estimate, "low": diff.low, "high": diff.high, "significant": diff.significant,
            "confidence": diff.confidence, "resamples": diff.resamples}


def _interval(row: dict, values: list) -> dict:
    mean, half = row
    return {"values": values, "mean": mean, "half_width": half, "n": len([v for v in values if v is not None])}


def _row(row: dict, stats: TableStats, columns: list[str]) -> dict:
    records = row["records"]
    rank = stats.ranks.get(row["method"])
    out = {"method": row["method"], "status": str(row["status"]), "rank": rank.rank if rank else None,
           "rank_range": [rank.rank, rank.worst] if rank else None, "lr": row["lr"] if row["trains"] else None,
           "lr_selection": row["selection"], "seeds": [r.seed for r in records],
           "run_ids": [r.run_id for r in records],
           "metrics": {c: _interval(row[c], [r.metrics.get(c) for r in records]) for c in columns}}
    if stats.reference is not None:
        out["difference_to_reference"] = _difference(stats.differences.get(row["method"]))
    if stats.has_source:
        out["source"] = _interval(row["source"], [r.split_score("source") for r in records])
        out["forgetting"] = _difference(stats.forgetting.get(row["method"]))
    return out


def leaderboard_data(records: list[RunRecord], suite: str) -> dict:
    """Every table of the leaderboard with per-seed values, intervals, ranks and differences (JSON-ready)."""
    tables = []
    for b in boards(records):
        tables.append({"model": b.model, "dataset": b.dataset, "budget": json.loads(b.budget), "primary": b.primary,
                       "reference": b.stats.reference["method"] if b.stats.reference else None,
                       "baseline": b.group[0].baseline, "not_current": b.note,
                       "rows": [_row(r, b.stats, b.columns) for r in b.stats.ordered()],
                       "set_aside": [{"run_id": r.run_id, "method": r.label, "seed": r.seed, "why": why}
                                     for r, why in b.stale]})
    from benchhub.report.ranking import RANKING

    return {"suite": suite, "confidence": 0.95, "ranking": RANKING, "tables": tables}


CSV_FIRST = ["suite", "model", "dataset", "method", "lr", "seed", "status"]
CSV_LAST = ["train_s", "peak_memory_bytes", "trainable_params", "total_params", "run_id", "ranked_table"]


def leaderboard_csv(records: list[RunRecord]) -> str:
    """One row per evaluated run and seed, flat columns: reads with `pandas.read_csv` as it is.

    Sweep runs of rates that were not chosen have no evaluation scores and no row (they are in the
    records and in leaderboard.json's `lr_selection`). `ranked_table`: whether the run is among the
    records its table ranks (false: set aside as not current, `currency`)."""
    import csv
    import io

    from benchhub.spec import ComponentSpec

    current = {id(r) for b in boards(records) for r in b.group}
    rows = [r for r in records if not (r.grid_point)]
    metrics = sorted({m for r in rows for m in r.metrics})
    sources = sorted({f"source {m}" for r in rows for m in (r.scores.get("source") or {}).get("metrics", {})})
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIRST + metrics + sources + CSV_LAST, lineterminator="\n")
    writer.writeheader()
    for r in sorted(rows, key=lambda r: (model_label(r.config), r.label, r.config["method"]["lr"], r.seed)):
        c = r.config
        row = {"suite": c["suite"], "model": model_label(c), "method": r.label, "lr": c["method"]["lr"],
               "dataset": ComponentSpec(c["dataset"]["name"], c["dataset"].get("options", {})).label(),
               "seed": r.seed, "status": r.status.value, **r.metrics,
               **{f"source {m}": v for m, v in (r.scores.get("source") or {}).get("metrics", {}).items()},
               "train_s": (r.train or {}).get("seconds"), "peak_memory_bytes": r.memory.get("peak_bytes"),
               "trainable_params": (r.parameters or {}).get("trainable"),
               "total_params": (r.parameters or {}).get("total"), "run_id": r.run_id,
               "ranked_table": id(r) in current}
        writer.writerow(row)
    return out.getvalue()
