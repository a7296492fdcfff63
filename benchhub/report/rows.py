"""Leaderboard rows: the records of one configuration (its seeds) aggregated into what a table shows."""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from benchhub.budget import format_bytes
from benchhub.records import RunRecord, Status
from benchhub.stats import t_interval

STATUS_ORDER = {Status.OK: 0, Status.OVER_BUDGET: 1, Status.DOES_NOT_FIT: 2, Status.FAILED: 3}
SPLIT_KEYS = ("weights", "gradients", "optimizer", "activations_other", "peak_allocated")


BUSY = "‡"  # marks timings taken on a busy machine


def busy_mark(text: str, row: dict) -> str:
    """A timing cell, marked when some seed of the row ran on a busy machine."""
    return f"{text} {BUSY}" if row["busy"] and text != "–" else text


def mean_ci(values: list) -> tuple[float | None, float | None]:
    """(mean, 95 % Student-t half-width over seeds; None with one value)."""
    interval = t_interval([v for v in values if v is not None])
    return interval.mean, interval.half_width


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
    return model_label(c), dataset, json.dumps(c["budget"], sort_keys=True)


def model_label(config: dict) -> str:
    """The model as the command line names it: `blip2:tiny`, or `blip2:tiny(hidden=32)` with options."""
    from benchhub.spec import ComponentSpec

    return ComponentSpec(config["model"]["name"], config["model"].get("options") or {}).label()


def _status(records: list[RunRecord]) -> Status:
    if all(r.status.ranked for r in records):
        return Status.OK
    return min((r.status for r in records if not r.status.ranked), key=STATUS_ORDER.get)


def make_row(records: list[RunRecord], metric_columns: list[str]) -> dict:
    """Aggregate the seeds of one configuration: means (± 95 % t half-width) of everything shown."""
    first = records[0]
    use = [r for r in records if r.status.ranked] or records
    status = _status(records)
    row = {"method": first.label, "label": first.label, "status": status, "n": len(records),
           "ranked": status.ranked, "records": use, "selection": first.selection,
           "errors": [(r.seed, r.error) for r in records if r.error and r.status is Status.FAILED]}
    for col in metric_columns:
        row[col] = mean_ci([r.metrics.get(col) for r in use])
    row["source"] = mean_ci([r.split_score("source") for r in use])
    train = [r.train or {} for r in use]
    row["train_s"] = mean_ci([t.get("seconds") for t in train])
    row["sps"] = mean_ci([t.get("samples_per_second") for t in train])
    row["eval_s"] = mean_ci([(r.eval or {}).get("seconds") for r in use])
    row["memory"] = mean_ci([r.memory.get("peak_bytes") for r in use])
    row["needed"] = mean_ci([r.memory.get("needed_bytes") for r in use])
    split = [r.memory.get("split") or {} for r in use]
    for key in SPLIT_KEYS:
        row[key] = mean_ci([s.get(f"{key}_bytes") for s in split])
    row["search"] = [r.memory.get("search") or {} for r in use]
    compute = [r.compute or {} for r in use]
    row["flops_per_step"] = mean_ci([c.get("flops_per_step") for c in compute])
    row["flops_per_second"] = mean_ci([c.get("achieved_flops_per_second") for c in compute])
    row["mfu"] = mean_ci([c.get("mfu") for c in compute])
    params = use[0].parameters or {}
    row["trainable"], row["total"] = params.get("trainable"), params.get("total")
    row["batching"] = f"{first.batching['micro_batch']} × {first.batching['grad_accum_steps']}"
    row["lr"] = first.config["method"]["lr"]
    row["trains"] = bool(row["trainable"])
    row["time_limited"] = any((r.train or {}).get("stopped_by") == "time" for r in use)
    row["steps"] = [(t.get("steps"), t.get("planned_steps") or _planned(r)) for r, t in zip(use, train)]
    row["busy"] = sorted({part for r in use if (r.load or {}).get("busy")  # each reason once
                          for part in ((r.load or {}).get("why") or "busy").split("; ")})
    return row


def _planned(record: RunRecord) -> int | None:
    """A record's planned optimizer steps (records before `planned_steps`: the budget's max_steps)."""
    return (record.config.get("budget") or {}).get("max_steps")


def steps_text(row: dict) -> str:
    """'1/200 steps' (each seed's, when they differ) for a row stopped by its time limit."""
    done = sorted({f"{s}/{p}" if p else str(s) for s, p in row["steps"] if s is not None})
    return f"{', '.join(done)} steps"


def status_text(row: dict) -> str:
    """A row's status cell: ok, or ok stopped early with its steps, or why it is unranked."""
    status = row["status"]
    if status is Status.OK and row["time_limited"]:
        rank = "" if row["ranked"] else "; unranked: the other runs completed their steps"
        return f"ok (time limit: {steps_text(row)}{rank})"
    if status is Status.DOES_NOT_FIT and row["needed"][0]:
        return f"does-not-fit (unranked; needs {format_bytes(int(row['needed'][0]))})"
    return status.value if status is Status.OK or status is Status.FAILED else f"{status.value} (unranked)"


def separate_stopped(rows: list[dict]) -> None:
    """Runs a time limit stopped before their steps are not ranked beside complete runs, unless every
    training row of the table stopped the same way."""
    trained = [r for r in rows if r["ranked"] and r["trains"]]
    if any(r["time_limited"] for r in trained) and not all(r["time_limited"] for r in trained):
        for row in trained:
            if row["time_limited"]:
                row["ranked"] = False


def table_rows(group: list[RunRecord], columns: list[str], primary: str | None, higher: bool) -> list[dict]:
    """The rows of one table, ranked: ranked runs by the primary score, then the unranked by status."""
    by_config: dict[str, list] = defaultdict(list)
    for r in group:
        if r.grid_point:  # a grid point: shown in the sweep table, not ranked
            continue
        by_config[row_key(r)].append(r)
    keys = sorted(by_config)
    rows = [make_row(sorted(by_config[k], key=lambda r: r.seed), columns) for k in keys]
    separate_stopped(rows)
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
