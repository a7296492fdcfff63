"""Leaderboard rows: the records of one configuration (its seeds) aggregated into what a table shows."""
from __future__ import annotations

import hashlib
import json
import statistics
from collections import defaultdict

from benchhub.records import RunRecord, Status

STATUS_ORDER = {Status.OK: 0, Status.OVER_BUDGET: 1, Status.DOES_NOT_FIT: 2, Status.FAILED: 3}
SPLIT_KEYS = ("weights", "gradients", "optimizer", "activations_other", "peak_allocated")


def mean_std(values: list) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def row_key(record: RunRecord) -> str:
    """Records that differ only in their seed share a row; any other difference is another row."""
    config = {k: v for k, v in record.config.items() if k not in ("seed", "suite")}
    env = record.environment
    return json.dumps([config, env.get("versions"), env.get("device")], sort_keys=True, default=str)


def group_key(record: RunRecord) -> tuple:
    """One table per model, dataset and budget."""
    from benchhub.spec import ComponentSpec

    c = record.config
    dataset = ComponentSpec(c["dataset"]["name"], c["dataset"].get("options", {})).label()
    return c["model"]["name"], dataset, json.dumps(c["budget"], sort_keys=True)


def _status(records: list[RunRecord]) -> Status:
    if all(r.status.ranked for r in records):
        return Status.OK
    return min((r.status for r in records if not r.status.ranked), key=STATUS_ORDER.get)


def make_row(records: list[RunRecord], metric_columns: list[str]) -> dict:
    """Aggregate the seeds of one configuration: means (± std) of everything shown."""
    first = records[0]
    use = [r for r in records if r.status.ranked] or records
    status = _status(records)
    row = {"method": first.label, "status": status, "n": len(records), "ranked": status.ranked,
           "errors": [(r.seed, r.error) for r in records if r.error and r.status is Status.FAILED]}
    for col in metric_columns:
        row[col] = mean_std([r.metrics.get(col) for r in use])
    train = [r.train or {} for r in use]
    row["train_s"] = mean_std([t.get("seconds") for t in train])
    row["sps"] = mean_std([t.get("samples_per_second") for t in train])
    row["eval_s"] = mean_std([(r.eval or {}).get("seconds") for r in use])
    row["memory"] = mean_std([r.memory.get("peak_bytes") for r in use])
    row["needed"] = mean_std([r.memory.get("needed_bytes") for r in use])
    split = [r.memory.get("split") or {} for r in use]
    for key in SPLIT_KEYS:
        row[key] = mean_std([s.get(f"{key}_bytes") for s in split])
    row["search"] = [r.memory.get("search") or {} for r in use]
    compute = [r.compute or {} for r in use]
    row["flops_per_step"] = mean_std([c.get("flops_per_step") for c in compute])
    row["flops_per_second"] = mean_std([c.get("achieved_flops_per_second") for c in compute])
    row["mfu"] = mean_std([c.get("mfu") for c in compute])
    params = use[0].parameters or {}
    row["trainable"], row["total"] = params.get("trainable"), params.get("total")
    row["batching"] = f"{first.batching['micro_batch']} × {first.batching['grad_accum_steps']}"
    row["lr"] = first.config["method"]["lr"]
    row["trains"] = bool(row["trainable"])
    row["time_limited"] = any((r.train or {}).get("stopped_by") == "time" for r in use)
    return row


def table_rows(group: list[RunRecord], columns: list[str], primary: str | None, higher: bool) -> list[dict]:
    """The rows of one table, ranked: ranked runs by the primary score, then the unranked by status."""
    by_config: dict[str, list] = defaultdict(list)
    for r in group:
        by_config[row_key(r)].append(r)
    keys = sorted(by_config)
    rows = [make_row(sorted(by_config[k], key=lambda r: r.seed), columns) for k in keys]
    labels = defaultdict(int)
    for row in rows:
        labels[row["method"]] += 1
    for row, key in zip(rows, keys):
        if labels[row["method"]] > 1:  # same label, other settings (lr, suite options, versions)
            row["method"] += f" #{hashlib.sha256(key.encode()).hexdigest()[:6]}"
    sign = 1 if higher else -1

    def order(r):
        score = r[primary][0] if primary and r[primary][0] is not None else None
        return (not r["ranked"], STATUS_ORDER[r["status"]],
                -sign * score if score is not None else float("inf"), r["method"])

    return sorted(rows, key=order)
