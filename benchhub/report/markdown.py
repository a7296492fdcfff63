"""The Markdown leaderboard of a suite: one table per model (and budget), best values bold."""
from __future__ import annotations

import json
from collections import defaultdict

from benchhub.budget import Budget, format_bytes
from benchhub.records import RunRecord, Status
from benchhub.report.rows import group_key, table_rows

TASK_WORDS = {"caption": "captioning", "vqa": "VQA", "classify": "classification"}


def fmt_num(mean, std, digits: int) -> str:
    if mean is None:
        return "–"
    text = f"{mean:,.{digits}f}"
    return f"{text} ± {std:.{digits}f}" if std is not None else text


def render_leaderboard(records: list[RunRecord], suite: str, describe_metric=None) -> str:
    """The Markdown leaderboard of a suite's records (deterministic for the same records).

    `describe_metric(label) -> (citation, task) | None` asks the metric plugins where numbers come from.
    """
    lines = [f"# Leaderboard: `{suite}`", ""]
    if not records:
        return "\n".join(lines + ["No results yet. Run `benchhub run`.", ""])
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[group_key(r)].append(r)
    budgets = sorted({k[2] for k in groups})
    lines += _preamble(records, budgets, describe_metric) + [""]
    for key in sorted(groups):
        lines += _table(key, groups[key], len(budgets) > 1)
    lines += [_footnote(records), ""]
    return "\n".join(lines)


def _preamble(records: list[RunRecord], budgets: list[str], describe_metric) -> list[str]:
    envs = {(r.environment["device"], json.dumps(r.environment["versions"], sort_keys=True)) for r in records}
    lines = [f"- **Device:** {'; '.join(sorted({d for d, _ in envs}))}"]
    if len(budgets) == 1:
        lines.append(f"- **Budget:** {Budget(**json.loads(budgets[0])).describe()}")
    for v in sorted({v for _, v in envs}):
        lines.append("- **Versions:** " + " · ".join(f"{k} {val}" for k, val in json.loads(v).items() if val))
    lines.append(f"- **Records:** {len(records)} runs; {_sources(records, describe_metric)}"
                 "peak memory is the child process's peak RSS on CPU, allocator peak reserved on CUDA; "
                 "under a memory limit each run's micro-batch is the largest divisor of the effective batch "
                 "whose measured training step fits.")
    return lines


def _sources(records: list[RunRecord], describe_metric) -> str:
    """'metrics from pycocoevalcap where captioning; ' as the metric plugins cite themselves."""
    labels = sorted({m for r in records for m in r.config.get("metrics", [])})
    described = [describe_metric(m) for m in labels] if describe_metric else []
    cited = sorted({f"{citation} where {TASK_WORDS.get(task, task)}" for citation, task in filter(None, described)
                    if citation})
    return f"metrics from {', '.join(cited)}; " if cited else ""


def _footnote(records: list[RunRecord]) -> str:
    text = ("Bold marks the best value per column among ranked runs; ↑ higher is better, ↓ lower is better. ")
    baselines = sorted({r.baseline for r in records if r.baseline})
    for baseline in baselines:
        runs = [r for r in records if r.label == baseline]
        trains = any((r.parameters or {}).get("trainable") for r in runs) or not runs
        what = "the suite's baseline" if trains else "the pre-trained model without fine-tuning"
        text += f"`{baseline}` is {what}. "
    return text + "Values with ± are mean ± standard deviation over seeds."


def _best(rows, key, higher: bool, only_training: bool = False):
    values = [r[key][0] for r in rows if r["ranked"] and r[key][0] is not None
              and (r["trains"] or not only_training)]
    if not values:
        return None
    return max(values) if higher else min(values)


def _table(key: tuple, group: list[RunRecord], several_budgets: bool) -> list[str]:
    model, dataset, budget = key
    scoring = group[0].scoring
    primary = scoring.get("primary") or next(iter(group[0].metrics), None)
    columns = list(scoring.get("columns") or [])
    if primary and primary not in columns:
        columns.insert(0, primary)
    higher = {c: (scoring.get("higher_is_better") or {}).get(c, True) for c in columns}
    rows = table_rows(group, columns, primary, higher.get(primary, True) if primary else True)
    heading = f"## {model} on {dataset}"
    if several_budgets:
        heading += f" ({Budget(**json.loads(budget)).describe()})"
    header = ["Method", *[f"{c} {'↑' if higher[c] else '↓'}" for c in columns], "Train s ↓", "Eval s",
              "Samples/s ↑", "Peak memory ↓", "Trainable params ↓", "µbatch × accum", "LR", "Seeds", "Status"]
    lines = [heading, "", "| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 3) + [":---:", ":---"]) + "|"]
    best = {c: _best(rows, c, higher[c]) for c in columns}
    best.update(train_s=_best(rows, "train_s", False, True), sps=_best(rows, "sps", True, True),
                memory=_best(rows, "memory", False))
    best["trainable"] = min((r["trainable"] for r in rows if r["ranked"] and r["trains"]), default=None)
    lines += ["| " + " | ".join(_cells(row, columns, best)) + " |" for row in rows]
    lines += _memory_table(rows)
    errors = [(row["method"], seed, err) for row in rows for seed, err in row["errors"]]
    if errors:
        lines += ["", "Failures:"] + [f"- `{m}` seed {s}: {e}" for m, s, e in errors]
    return lines + [""]


def _status_text(row: dict) -> str:
    status = row["status"]
    if status is Status.OK:
        return "✅ ok (time limit)" if row["time_limited"] else "✅ ok"
    if status is Status.OVER_BUDGET:
        return "⚠️ over-budget (unranked)"
    if status is Status.DOES_NOT_FIT:
        needed = row["needed"][0]
        return "🚫 does-not-fit (unranked" + (f"; needs {format_bytes(int(needed))})" if needed else ")")
    return "❌ failed"


def _cells(row: dict, columns: list[str], best: dict) -> list[str]:
    def bold(key, text):
        return f"**{text}**" if row["ranked"] and best.get(key) is not None and row[key][0] == best[key] else text

    trains = row["trains"]
    share = f" ({100 * row['trainable'] / row['total']:.2f} %)" if row["total"] else ""
    trainable = "–" if row["trainable"] is None else f"{row['trainable']:,}{share}"
    if row["ranked"] and trains and row["trainable"] == best["trainable"]:
        trainable = f"**{trainable}**"
    mem = row["memory"][0]
    return [f"`{row['method']}`",
            *[bold(c, fmt_num(*row[c], 3)) for c in columns],
            bold("train_s", fmt_num(*row["train_s"], 1)) if trains else "–",
            fmt_num(*row["eval_s"], 1),
            bold("sps", fmt_num(*row["sps"], 1)) if trains else "–",
            bold("memory", "–" if mem is None else format_bytes(int(mem))),
            trainable, row["batching"] if trains and row["status"] is not Status.DOES_NOT_FIT else "–",
            f"{row['lr']:g}" if trains else "–", str(row["n"]), _status_text(row)]


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
