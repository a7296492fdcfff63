"""`benchhub compare OLD NEW`: what moved between two results directories (e.g. before and after a library
upgrade), and whether it moved beyond noise.

Each side is a results directory or one suite's directory within it; only the records its leaderboard
ranks count (`report.currency`). Runs are matched by model × method × dataset, every seed of each side
(the seeds may differ: a re-run with other final seeds is compared too). A quality change is beyond noise
when the 95 % interval of new − old (per-example scores on the examples both scored, plus each side's
seed-to-seed variance, Welch degrees of freedom) excludes zero; without per-example scores, Welch's
t-test over seeds decides, and with one seed of a method that trains nothing can be said ("?").
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from benchhub.records import RunRecord
from benchhub.report.markdown import code
from benchhub.paired import difference, seeds_differ, seeds_p_value
from benchhub.errors import UserError
from benchhub.spec import ComponentSpec
from benchhub.store import suite_stores


@dataclass
class Comparison:
    lines: list = field(default_factory=list)
    worse: list = field(default_factory=list)  # reasons the exit status is 1

    @property
    def exit_code(self) -> int:
        return 1 if self.worse else 0


def _key(r: RunRecord) -> tuple:
    c = r.config
    return c["model"]["name"], r.label, ComponentSpec(c["dataset"]["name"], c["dataset"].get("options", {})).label()


def _stores(path) -> list:
    """The suites under a results directory, or the one suite whose directory `path` is."""
    from pathlib import Path

    from benchhub.store import Store

    path = Path(path)
    if path.is_dir() and any(path.glob("*__*.json")):
        return [Store(path.parent, path.name)]
    return suite_stores(path)


def _evaluated(results_dir) -> dict[tuple, dict[int, RunRecord]]:
    """(model, method, dataset) -> {seed: record} of the finished, evaluated runs its leaderboards rank."""
    from benchhub.report.currency import split
    from benchhub.report.rows import group_key

    out: dict[tuple, dict] = defaultdict(dict)
    for store in _stores(results_dir):
        tables: dict[tuple, list] = defaultdict(list)
        for r in store.records():
            tables[group_key(r)].append(r)
        for group in tables.values():
            for r in split(group).current:
                if r.status.ranked and r.evaluated:
                    out[_key(r)][r.seed] = r
    return out


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _verdict(old: list[RunRecord], new: list[RunRecord], metric: str, higher: bool) -> tuple[str, bool]:
    """('better' | 'worse' | 'no' (within noise) | '?' (cannot tell), significantly worse?)."""
    trains = [bool((r.parameters or {}).get("trainable")) for r in (new[0], old[0])]  # else deterministic
    diff = difference(new, old, "eval", metric, vary=tuple(trains))
    if diff is not None:
        moved, up = diff.significant, diff.estimate > 0
    elif min(len(old), len(new)) > 1:
        a, b = [r.metrics.get(metric) for r in new], [r.metrics.get(metric) for r in old]
        moved, up = seeds_differ(a, b), (_mean(a) or 0) > (_mean(b) or 0)
    else:
        return "?", False
    if not moved:
        return "no", False
    better = up == higher
    return ("better" if better else "worse"), not better


def _ratio(old: list, new: list) -> float | None:
    a, b = _mean(old), _mean(new)
    return b / a if a and b is not None else None


def compare(old_dir, new_dir, threshold: float = 1.10) -> Comparison:
    """The comparison as Markdown lines, and why it fails (significantly worse quality, ratios over threshold)."""
    old, new = _evaluated(old_dir), _evaluated(new_dir)
    setups = [{(model, dataset) for model, _, dataset in side} for side in (old, new)]
    if old and new and not setups[0] & setups[1]:  # a gate pointed at the wrong directory must not pass
        shown = ["; ".join(f"{m} on {d}" for m, d in sorted(side)[:2]) + ("; …" if len(side) > 2 else "")
                 for side in setups]
        raise UserError(f"{old_dir} and {new_dir} share no model × dataset pair (old: {shown[0]}; new: {shown[1]}); "
                        "nothing to compare")
    result = Comparison()
    pairs = []
    for key in sorted(set(old) & set(new)):
        pairs.append((key, [old[key][s] for s in sorted(old[key])], [new[key][s] for s in sorted(new[key])]))
    only = sorted(set(old) ^ set(new))
    if not pairs:
        result.worse.append("no model × method × dataset is in both: nothing was compared")
    shared = sorted({code(key[1]) for key, a, b in pairs
                     if {r.seed for r in a} & {r.seed for r in b} and {r.seed for r in a} != {r.seed for r in b}})
    result.lines += [f"# Comparison: {code(old_dir)} → {code(new_dir)}", "",
                     f"{len(pairs)} model × method × dataset in both; "
                     f"{len(only)} present on one side only" + (": " + ", ".join(code(f"{k[1]} on {k[0]}") for k in only) if only
                                                               else "") + "."]
    if shared:
        result.lines += ["", f"Note: some seeds are on both sides for {', '.join(shared)}: those runs are compared with "
                             "themselves, so the comparison is not of independent measurements."]
    result.lines += _budget_lines(pairs)
    metrics = sorted({(m, r.scoring.get("higher_is_better", {}).get(m, True)) for _, _, rs in pairs for r in rs
                      for m in (r.scoring.get("columns") or [])})
    for metric, higher in metrics:
        result.lines += _metric_table(pairs, metric, higher, result)
    result.lines += _cost_table(pairs, threshold, result)
    result.lines += ["", "Beyond noise: the 95 % interval of new − old excludes zero; it counts the evaluation examples "
                     "(paired) and each side's seed-to-seed variance (Welch's t-test over seeds without per-example "
                     "scores; ? with one seed of a method that trains and neither)."]
    return result


def _budget_lines(pairs: list) -> list[str]:
    out = []
    for key, old, new in pairs:
        a, b = old[0].config["budget"], new[0].config["budget"]
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if changed:
            out.append(f"- budget differs for {code(key[1])} on {code(key[0])}: " + ", ".join(
                f"{k} {json.dumps(a.get(k))} → {json.dumps(b.get(k))}" for k in changed))
        la, lb = old[0].config["method"]["lr"], new[0].config["method"]["lr"]
        if la != lb:
            out.append(f"- learning rate differs for {code(key[1])} on {code(key[0])}: {la:g} → {lb:g}")
    return ["", *out] if out else []


def _metric_table(pairs: list, metric: str, higher: bool, result: Comparison) -> list[str]:
    lines = ["", f"## {metric} ({'higher' if higher else 'lower'} is better)", "",
             "| Model | Method | Dataset | Seeds | Old | New | Change | Beyond noise |",
             "|:---|:---|:---|---:|---:|---:|---:|:---|"]
    for (model, method, dataset), old, new in pairs:
        a, b = _mean([r.metrics.get(metric) for r in old]), _mean([r.metrics.get(metric) for r in new])
        if a is None or b is None:
            continue
        verdict, worse = _verdict(old, new, metric, higher)
        if worse:
            result.worse.append(f"{metric} of {method} on {model} is significantly worse ({a:.3f} → {b:.3f})")
        seeds = _seeds(old) if _seeds(old) == _seeds(new) else f"{_seeds(old)} → {_seeds(new)}"
        lines.append(f"| {code(model)} | {code(method)} | {code(dataset)} | {seeds} | {a:.3f} | {b:.3f} | "
                     f"{b - a:+.3f} | {verdict} |")
    return lines


def _seeds(records: list) -> str:
    return ",".join(str(r.seed) for r in records)


def _machine(record: RunRecord) -> tuple:
    env = record.environment or {}
    return env.get("device"), (env.get("machine") or {}).get("cpu_capability")


def _cost_table(pairs: list, threshold: float, result: Comparison) -> list[str]:
    """Train time and peak memory ratios. A time ratio over the threshold fails only when the seeds' train
    times differ beyond their spread (Welch, 5 %) and no run was timed on a busy machine; ratios between
    machines are shown, never gated (a slower CPU is not a regression of the code)."""
    machines = {_machine(r) for _, old, new in pairs for r in old + new}
    across = len(machines) > 1
    title = "measured on different machines: shown, not gated" if across else f"over {threshold:g} fails"
    lines = ["", f"## Cost (new / old; {title})", "",
             "| Model | Method | Dataset | Train time ratio | Peak memory ratio |", "|:---|:---|:---|---:|---:|"]
    for (model, method, dataset), old, new in pairs:
        times = [[(r.train or {}).get("seconds") for r in side] for side in (old, new)]
        ratios = {"train time": _ratio(*times),
                  "peak memory": _ratio([r.memory.get("peak_bytes") for r in old],
                                        [r.memory.get("peak_bytes") for r in new])}
        cells = []
        for what, ratio in ratios.items():
            cell = "–" if ratio is None else f"{ratio:.3f}"
            if ratio is not None and ratio > threshold and not across:
                why = _time_noise(old, new, *times) if what == "train time" else None
                if why:
                    cell += f" ({why})"
                else:
                    result.worse.append(f"{what} of {method} on {model} grew {ratio:.3f}× (threshold {threshold:g})")
            cells.append(cell)
        lines.append(f"| {code(model)} | {code(method)} | {code(dataset)} | {cells[0]} | {cells[1]} |")
    return lines


def _time_noise(old: list, new: list, before: list, after: list) -> str | None:
    """Why a train-time ratio over the threshold is not a regression: busy timings, or within the seeds'
    spread; None when it is one."""
    if any((r.load or {}).get("busy") for r in old + new):
        return "timed on a busy machine: not gated"
    a, b = [v for v in before if v is not None], [v for v in after if v is not None]
    p = seeds_p_value(a, b)
    if p is not None and p >= 0.05:
        return "within the seeds' spread: not gated"
    return None
