"""`benchhub compare OLD NEW`: what moved between two results directories (e.g. before and after a library
upgrade), and whether it moved beyond noise.

Each side is a results directory or one suite's directory within it; only the records its leaderboard
ranks count (`report.currency`). Runs are paired by model × dataset × method name, every seed of each side
(the seeds may differ: a re-run with other final seeds is compared too): the same label first, then, per
model × dataset × method name, the one label left on each side (`lora` against `lora(r=16)`, with the option
differences listed as budget differences are); `--pair OLD=NEW` states a pairing explicitly. A quality change is beyond noise
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
from benchhub.report.rows import model_label
from benchhub.paired import difference, seeds_differ
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
    return model_label(c), r.label, ComponentSpec(c["dataset"]["name"], c["dataset"].get("options", {})).label()


@dataclass
class Pair:
    model: str
    dataset: str
    old_label: str
    new_label: str
    old: list  # records, by seed: the seeds both sides have, else every seed of each
    new: list
    how: str = "same label"  # or "method name", "--pair"
    left_out: tuple = ((), ())  # seeds of each side left out: the other side lacks them

    @property
    def method(self) -> str:
        return self.old_label if self.old_label == self.new_label else f"{self.old_label} → {self.new_label}"


def parse_pairs(given: tuple[str, ...]) -> dict[str, str]:
    """`--pair OLD=NEW` values as {old label: new label} (a UserError for a malformed or repeated one)."""
    out: dict[str, str] = {}
    for text in given:
        # a label may hold '=' inside its options: split at the '=' outside parentheses
        depth, cut = 0, None
        for i, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if ch == "=" and depth == 0:
                cut = i
                break
        if cut is None or not text[:cut].strip() or not text[cut + 1:].strip():
            raise UserError(f"--pair must be OLD_LABEL=NEW_LABEL (e.g. --pair 'lora=lora(r=16)'), got {text!r}")
        old, new = text[:cut].strip(), text[cut + 1:].strip()
        if old in out:
            raise UserError(f"--pair gives {old!r} twice")
        if new in out.values():
            raise UserError(f"--pair pairs {new!r} twice; each new run pairs with one old run")
        out[old] = new
    return out


def _labels(side: dict) -> list[str]:
    return sorted({label for _, label, _ in side})


def _method_name(side: dict, key: tuple) -> str:
    return next(iter(side[key].values())).config["method"]["name"]


def _check_explicit(old: dict, new: dict, explicit: dict[str, str]) -> None:
    """Each `--pair` label is ranked on its side, and both name runs of one method."""
    for label, where, side in [(o, "old", old) for o in explicit] + [(n, "new", new) for n in explicit.values()]:
        if label not in _labels(side):
            raise UserError(f"--pair: no ranked run labelled {label!r} on the {where} side; it has "
                            + ", ".join(_labels(side)[:12]))
    for o_label, n_label in explicit.items():
        names = {_method_name(old, k) for k in old if k[1] == o_label} | \
            {_method_name(new, k) for k in new if k[1] == n_label}
        if len(names) > 1:
            raise UserError(f"--pair {o_label}={n_label}: pairs runs of one method, but these are "
                            f"{' and '.join(sorted(names))}")


def pair_runs(old: dict, new: dict, explicit: dict[str, str]) -> tuple[list[Pair], list[str]]:
    """Pairs (explicit, then same label, then the single label left per model × dataset × method name) and
    what is left unpaired, with why."""
    _check_explicit(old, new, explicit)
    left_old, left_new = set(old), set(new)
    pairs = []

    def take(o, n, how):
        left_old.discard(o)
        left_new.discard(n)
        seeds = [set(old[o]), set(new[n])]
        both = seeds[0] & seeds[1]
        keep = [both or seeds[0], both or seeds[1]]  # seed by seed where they overlap; else every seed of each
        pair = Pair(o[0], o[2], o[1], n[1], [old[o][s] for s in sorted(keep[0])],
                    [new[n][s] for s in sorted(keep[1])], how)
        pair.left_out = sorted(seeds[0] - keep[0]), sorted(seeds[1] - keep[1])
        pairs.append(pair)

    for o in sorted(old):
        if o[1] in explicit and (n := (o[0], explicit[o[1]], o[2])) in new:
            take(o, n, "--pair")
    for o in sorted(left_old & left_new):
        if o[1] not in explicit and o[1] not in explicit.values():
            take(o, o, "same label")

    groups: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for o in left_old:
        groups[o[0], o[2], _method_name(old, o)][0].append(o)
    for n in left_new:
        groups[n[0], n[2], _method_name(new, n)][1].append(n)
    unpaired = []
    for (model, dataset, method), (olds, news) in sorted(groups.items()):
        if len(olds) == 1 and len(news) == 1 and olds[0][1] not in explicit and news[0][1] not in explicit.values():
            take(olds[0], news[0], "method name")
            continue
        why = ("ambiguous: several runs of this method; state one with --pair OLD=NEW" if olds and news
               else "on the old side only" if olds else "on the new side only")
        unpaired += [f"{code(key[1])} on {code(model)} ({why})" for key in sorted(olds + news)]
    pairs.sort(key=lambda p: (p.model, p.dataset, p.old_label, p.new_label))
    return pairs, unpaired


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


def compare(old_dir, new_dir, threshold: float = 1.10, explicit: dict[str, str] | None = None) -> Comparison:
    """The comparison as Markdown lines, and why it fails (significantly worse quality, ratios over threshold)."""
    old, new = _evaluated(old_dir), _evaluated(new_dir)
    setups = [{(model, dataset) for model, _, dataset in side} for side in (old, new)]
    if old and new and not setups[0] & setups[1]:  # a gate pointed at the wrong directory must not pass
        shown = ["; ".join(f"{m} on {d}" for m, d in sorted(side)[:2]) + ("; …" if len(side) > 2 else "")
                 for side in setups]
        raise UserError(f"{old_dir} and {new_dir} share no model × dataset pair (old: {shown[0]}; new: {shown[1]}); "
                        "nothing to compare")
    result = Comparison()
    pairs, unpaired = pair_runs(old, new, explicit or {})
    if not pairs:
        result.worse.append("no model × method × dataset is in both: nothing was compared")
    ambiguous = [u for u in unpaired if "ambiguous" in u]
    if ambiguous:  # a gate must not pass without comparing a method it could not pair
        result.worse.append(f"{len(ambiguous)} run(s) could not be paired unambiguously; state the pairing with "
                            "--pair OLD=NEW")
    result.lines += [f"# Comparison: {code(old_dir)} → {code(new_dir)}", "",
                     f"{len(pairs)} model × method × dataset in both; {len(unpaired)} not paired"
                     + (": " + ", ".join(unpaired) if unpaired else "") + "."]
    partial = [f"{code(p.method)} seeds {', '.join(map(str, p.left_out[0] or p.left_out[1]))} (only "
               f"{'old' if p.left_out[0] else 'new'})" for p in pairs if p.left_out[0] or p.left_out[1]]
    if partial:
        result.lines += ["", "Compared seed by seed on the seeds both sides have; left out: " + "; ".join(partial) + "."]
    result.lines += _budget_lines(pairs)
    metrics = sorted({(m, r.scoring.get("higher_is_better", {}).get(m, True)) for p in pairs for r in p.new
                      for m in (r.scoring.get("columns") or [])})
    for metric, higher in metrics:
        result.lines += _metric_table(pairs, metric, higher, result)
    result.lines += _cost_table(pairs, threshold, result)
    result.lines += ["", "Beyond noise: the 95 % interval of new − old excludes zero; it counts the evaluation examples "
                     "(paired) and each side's seed-to-seed variance (Welch's t-test over seeds without per-example "
                     "scores; ? with one seed of a method that trains and neither). Costs: the median over seeds of "
                     "the runs timed on a quiet machine (busy runs ‡ are shown, never in a ratio)."]
    return result


def _budget_lines(pairs: list[Pair]) -> list[str]:
    out = []
    for p in pairs:
        where = f"{code(p.method)} on {code(p.model)}"
        a, b = p.old[0].config["budget"], p.new[0].config["budget"]
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if changed:
            out.append(f"- budget differs for {where}: " + ", ".join(
                f"{k} {json.dumps(a.get(k))} → {json.dumps(b.get(k))}" for k in changed))
        oa, ob = (side[0].config["method"].get("options") or {} for side in (p.old, p.new))
        options = sorted(k for k in set(oa) | set(ob) if oa.get(k) != ob.get(k))
        if options:
            out.append(f"- options differ for {where} (paired by {p.how}): " + ", ".join(
                f"{k} {json.dumps(oa.get(k), default=str)} → {json.dumps(ob.get(k), default=str)}" for k in options))
        la, lb = p.old[0].config["method"]["lr"], p.new[0].config["method"]["lr"]
        if la != lb:
            out.append(f"- learning rate differs for {where}: {la:g} → {lb:g}")
    return ["", *out] if out else []


def _metric_table(pairs: list, metric: str, higher: bool, result: Comparison) -> list[str]:
    lines = ["", f"## {metric} ({'higher' if higher else 'lower'} is better)", "",
             "| Model | Method | Dataset | Seeds | Old | New | Change | Beyond noise |",
             "|:---|:---|:---|---:|---:|---:|---:|:---|"]
    for p in pairs:
        model, method, dataset, old, new = p.model, p.method, p.dataset, p.old, p.new
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


def _busy(record: RunRecord) -> bool:
    return bool((record.load or {}).get("busy"))


def _median(values: list) -> float | None:
    import statistics

    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _cost_table(pairs: list[Pair], threshold: float, result: Comparison) -> list[str]:
    """Train time and peak memory: the ratio of medians over seeds, runs timed on a busy machine left out
    (counted in their own column): one slow seed moves a median little, so the threshold applies to the median,
    never to one run. Ratios between machines are shown, never gated (a slower CPU is not a regression of the
    code)."""
    machines = {_machine(r) for p in pairs for r in p.old + p.new}
    across = len(machines) > 1
    title = "measured on different machines: shown, not gated" if across else f"over {threshold:g} fails"
    lines = ["", f"## Cost (median new / median old over seeds; {title})", "",
             "| Model | Method | Dataset | Train time ratio | Peak memory ratio | Busy runs left out ‡ |",
             "|:---|:---|:---|---:|---:|---:|"]
    for p in pairs:
        quiet = [[r for r in side if not _busy(r)] for side in (p.old, p.new)]
        busy = sum(len(side) for side in (p.old, p.new)) - sum(len(side) for side in quiet)
        times = [[(r.train or {}).get("seconds") for r in side] for side in quiet]
        memory = [[r.memory.get("peak_bytes") for r in side] for side in quiet]
        cells = []
        for what, values in (("train time", times), ("peak memory", memory)):
            a, b = _median(values[0]), _median(values[1])
            ratio = b / a if a and b is not None else None
            if ratio is None:
                cells.append("– (a side has only busy runs: not gated)" if not quiet[0] or not quiet[1] else "–")
                continue
            if ratio > threshold and not across:
                result.worse.append(f"{what} of {p.method} on {p.model} grew {ratio:.3f}× (threshold "
                                    f"{threshold:g}; medians over {len(values[0])} → {len(values[1])} quiet seeds)")
            cells.append(f"{ratio:.3f}")
        lines.append(f"| {code(p.model)} | {code(p.method)} | {code(p.dataset)} | {cells[0]} | {cells[1]} | "
                     f"{busy or '–'} |")
    return lines
