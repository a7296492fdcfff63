"""Markdown leaderboards from stored records: one table per model (and budget), best values bold."""
from __future__ import annotations

import hashlib
import json
import statistics
from collections import defaultdict
from pathlib import Path

from benchhub.records import Budget, ComponentSpec, format_bytes

RANKED = ("ok",)
STATUS_ORDER = {"ok": 0, "over-budget": 1, "does-not-fit": 2, "failed": 3}


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _fmt_num(mean, std, digits: int) -> str:
    if mean is None:
        return "–"
    text = f"{mean:,.{digits}f}"
    return f"{text} ± {std:.{digits}f}" if std is not None else text


def _label(component: dict) -> str:
    return ComponentSpec(component["name"], component.get("options", {})).label()


def _row(records: list[dict], metric_columns: list[str]) -> dict:
    """Aggregate the seeds of one method: means (± std) of everything shown."""
    first = records[0]
    ok = [r for r in records if r["status"] in RANKED]
    status = "ok" if len(ok) == len(records) else min(
        (r["status"] for r in records if r["status"] not in RANKED), key=lambda s: STATUS_ORDER.get(s, 9))
    use = ok or records
    row = {"method": first["config"].get("method_label") or first["config"]["method"]["name"],
           "status": status, "n": len(records), "ranked": bool(ok) and status == "ok",
           "errors": [(r["config"]["seed"], r.get("error")) for r in records
                      if r.get("error") and r["status"] == "failed"]}
    for col in metric_columns:
        row[col] = _mean_std([r["metrics"].get(col) for r in use if r.get("metrics")])
    row["train_s"] = _mean_std([(r.get("train") or {}).get("seconds") for r in use])
    row["eval_s"] = _mean_std([(r.get("eval") or {}).get("seconds") for r in use])
    row["sps"] = _mean_std([(r.get("train") or {}).get("samples_per_second") for r in use])
    row["memory"] = _mean_std([(r.get("memory") or {}).get("peak_bytes") for r in use])
    row["memory_kind"] = (use[0].get("memory") or {}).get("kind", "")
    row["needed"] = _mean_std([(r.get("memory") or {}).get("needed_bytes") for r in use])
    split = [(r.get("memory") or {}).get("split") or {} for r in use]
    for key in ("weights", "gradients", "optimizer", "activations_other", "peak_allocated"):
        row[key] = _mean_std([s.get(f"{key}_bytes") for s in split])
    row["search"] = [((r.get("memory") or {}).get("search") or {}) for r in use]
    compute = [r.get("compute") or {} for r in use]
    row["flops_per_step"] = _mean_std([c.get("flops_per_step") for c in compute])
    row["flops_per_second"] = _mean_std([c.get("achieved_flops_per_second") for c in compute])
    row["mfu"] = _mean_std([c.get("mfu") for c in compute])
    params = use[0].get("parameters") or {}
    row["trainable"], row["total"] = params.get("trainable"), params.get("total")
    batching = first["batching"]
    row["batching"] = f"{batching['micro_batch']} × {batching['grad_accum_steps']}"
    row["lr"] = first["config"]["method"]["lr"]
    row["trains"] = bool(row["trainable"])
    row["time_limited"] = any((r.get("train") or {}).get("stopped_by") == "time" for r in use)
    return row


def _row_key(record: dict) -> str:
    """Records that differ only in their seed share a row; any other difference is another row."""
    config = {k: v for k, v in record["config"].items() if k not in ("seed", "suite")}
    env = record.get("environment", {})
    return json.dumps([config, env.get("versions"), env.get("device")], sort_keys=True, default=str)


def _group_key(record: dict) -> tuple:
    c = record["config"]
    return (c["model"]["name"], _label(c["dataset"]), json.dumps(c["budget"], sort_keys=True))


def _best(rows, key, higher: bool, only_training: bool = False):
    values = [r[key][0] for r in rows if r["ranked"] and r[key][0] is not None
              and (r["trains"] or not only_training)]
    if not values:
        return None
    return max(values) if higher else min(values)


def render_leaderboard(records: list[dict], suite: str) -> str:
    """The Markdown leaderboard of a suite's records (deterministic for the same records)."""
    lines = [f"# Leaderboard: `{suite}`", ""]
    if not records:
        return "\n".join(lines + ["No results yet. Run `benchhub run`.", ""])
    envs = {(r["environment"]["device"], json.dumps(r["environment"]["versions"], sort_keys=True)) for r in records}
    devices = sorted({d for d, _ in envs})
    versions = sorted({v for _, v in envs})
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[_group_key(r)].append(r)
    budgets = sorted({k[2] for k in groups})
    lines.append(f"- **Device:** {'; '.join(devices)}")
    if len(budgets) == 1:
        lines.append(f"- **Budget:** {Budget(**json.loads(budgets[0])).describe()}")
    for v in versions:
        lines.append("- **Versions:** " + " · ".join(f"{k} {val}" for k, val in json.loads(v).items() if val))
    lines.append(f"- **Records:** {len(records)} runs; metrics from pycocoevalcap where captioning; "
                 "peak memory is the child process's peak RSS on CPU, allocator peak reserved on CUDA; "
                 "under a memory limit each run's micro-batch is the largest divisor of the effective batch "
                 "whose measured training step fits.")
    lines.append("")
    for key in sorted(groups):
        model, dataset, budget = key
        group = groups[key]
        primary = group[0].get("primary_metric") or next(iter(group[0].get("metrics") or {}), None)
        columns = list(group[0].get("leaderboard_metrics") or [])
        if primary and primary not in columns:
            columns.insert(0, primary)
        higher = {c: (group[0].get("metric_higher_is_better") or {}).get(c, True) for c in columns}
        by_config: dict[str, list] = defaultdict(list)
        for r in group:
            by_config[_row_key(r)].append(r)
        rows = [_row(sorted(rs, key=lambda r: r["config"]["seed"]), columns) for _, rs in sorted(by_config.items())]
        labels = defaultdict(int)
        for row in rows:
            labels[row["method"]] += 1
        for row, key in zip(rows, sorted(by_config)):
            if labels[row["method"]] > 1:  # same label, other settings (lr, suite options, versions)
                row["method"] += f" #{hashlib.sha256(key.encode()).hexdigest()[:6]}"
        sign = 1 if not primary or higher.get(primary, True) else -1
        rows.sort(key=lambda r: (not r["ranked"], STATUS_ORDER.get(r["status"], 9),
                                 -sign * (r[primary][0] if primary and r[primary][0] is not None
                                          else sign * float("-inf")),
                                 r["method"]))
        heading = f"## {model} on {dataset}"
        if len(budgets) > 1:
            heading += f" ({Budget(**json.loads(budget)).describe()})"
        lines += [heading, ""]
        header = ["Method", *[f"{c} {'↑' if higher[c] else '↓'}" for c in columns], "Train s ↓", "Eval s", "Samples/s ↑", "Peak memory ↓",
                  "Trainable params ↓", "µbatch × accum", "LR", "Seeds", "Status"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 3) + [":---:", ":---"]) + "|")
        best = {c: _best(rows, c, higher[c]) for c in columns}
        best.update(train_s=_best(rows, "train_s", False, True), sps=_best(rows, "sps", True, True),
                    memory=_best(rows, "memory", False))
        trainable_best = min((r["trainable"] for r in rows if r["ranked"] and r["trains"]), default=None)

        def cell(row, key, text):
            return f"**{text}**" if row["ranked"] and best.get(key) is not None and row[key][0] == best[key] \
                else text

        for row in rows:
            share = f" ({100 * row['trainable'] / row['total']:.2f} %)" if row["total"] else ""
            trainable = "–" if row["trainable"] is None else f"{row['trainable']:,}{share}"
            if row["ranked"] and row["trains"] and row["trainable"] == trainable_best:
                trainable = f"**{trainable}**"
            train_s = _fmt_num(*row["train_s"], 1) if row["trains"] else "–"
            sps = _fmt_num(*row["sps"], 1) if row["trains"] else "–"
            mem = row["memory"][0]
            mem_text = "–" if mem is None else format_bytes(int(mem))
            status = row["status"] if row["status"] != "ok" else \
                ("✅ ok (time limit)" if row["time_limited"] else "✅ ok")
            if row["status"] == "failed":
                status = "❌ failed"
            elif row["status"] == "over-budget":
                status = "⚠️ over-budget (unranked)"
            elif row["status"] == "does-not-fit":
                needed = row["needed"][0]
                status = "🚫 does-not-fit (unranked" + (f"; needs {format_bytes(int(needed))})" if needed else ")")
            cells = [f"`{row['method']}`",
                     *[cell(row, c, _fmt_num(*row[c], 3)) for c in columns],
                     cell(row, "train_s", train_s) if row["trains"] else train_s,
                     _fmt_num(*row["eval_s"], 1),
                     cell(row, "sps", sps) if row["trains"] else sps,
                     cell(row, "memory", mem_text),
                     trainable, row["batching"] if row["trains"] and row["status"] != "does-not-fit" else "–",
                     f"{row['lr']:g}" if row["trains"] else "–", str(row["n"]), status]
            lines.append("| " + " | ".join(cells) + " |")
        lines += _memory_table(rows)
        errors = [(row["method"], seed, err) for row in rows for seed, err in row["errors"]]
        if errors:
            lines += ["", "Failures:"]
            lines += [f"- `{m}` seed {s}: {e}" for m, s, e in errors]
        lines.append("")
    lines.append("Bold marks the best value per column among ranked runs; ↑ higher is better, ↓ lower is "
                 "better. `zero-shot` is the pre-trained model without fine-tuning. "
                 "Values with ± are mean ± standard deviation over seeds.")
    lines.append("")
    return "\n".join(lines)


def _search_text(searches: list[dict]) -> str:
    """'16 (1 probe, 0.05 s)' or '4 (3 probes, 0.20 s)' from the first seed's micro-batch search."""
    search = searches[0] if searches else {}
    trials = search.get("trials") or []
    if not trials:
        return "–"
    fit = next((t["micro_batch"] for t in trials if t["fits"]), None)
    return f"{fit if fit else 'none'} ({len(trials)} probe{'s' * (len(trials) > 1)}, {search.get('seconds', 0):.2f} s)"


def _memory_table(rows: list[dict]) -> list[str]:
    """Where each training run's memory went (one measured step) and how hard it computed."""
    rows = [r for r in rows if r["trains"] and (r["weights"][0] is not None or r["search"] and r["search"][0])]
    if not rows:
        return []

    def size(value):
        return "–" if value[0] is None else format_bytes(int(value[0]))

    def flops(value, unit):
        return "–" if value[0] is None else f"{value[0] / 1e9:,.2f} G{unit}"

    lines = ["", "Memory of one training step at the chosen micro-batch (tensor bytes; activations/other = "
             "step peak − weights − gradients − optimizer state) and compute:", "",
             "| Method | µbatch (search) | Weights | Gradients | Optimizer | Activations/other | Step peak | "
             "FLOP/step | FLOP/s | MFU |",
             "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        mfu = "–" if row["mfu"][0] is None else f"{100 * row['mfu'][0]:.2f} %"
        lines.append("| " + " | ".join([
            f"`{row['method']}`", _search_text(row["search"]), size(row["weights"]), size(row["gradients"]),
            size(row["optimizer"]), size(row["activations_other"]), size(row["peak_allocated"]),
            flops(row["flops_per_step"], "FLOP"), flops(row["flops_per_second"], "FLOP/s"), mfu]) + " |")
    return lines


def write_leaderboard(store) -> Path:
    """Regenerate `<results>/<suite>/leaderboard.md` from every record in the store."""
    import os
    import tempfile

    text = render_leaderboard(store.records(), store.dir.name)
    path = store.dir / "leaderboard.md"
    fd, tmp = tempfile.mkstemp(dir=store.dir, prefix=".leaderboard.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path
