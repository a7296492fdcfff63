"""What each plot of a leaderboard table shows, as plain data: the interactive report (`interactive`, Plotly) and
the static PNGs beside leaderboard.md (`static`, matplotlib) draw the same series, titles and captions.

No plotting library is imported here. Every series is one method (a table row), in the table's order, with one
colour per method shared by every plot of the table.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from benchhub.records import RunRecord
from benchhub.report.rows import SPLIT_KEYS

# 24 distinguishable colours (Plotly's Dark24): a table with more methods reuses them in order, with markers.
PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
           "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
           "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038")
MiB = 2 ** 20


@dataclass
class Point:
    """One method in a quality-vs-cost plot: means and 95 % half-widths over its seeds."""

    method: str
    colour: str
    x: float
    x_half: float | None
    y: float
    y_half: float | None
    on_front: bool
    hover: list[str]  # lines: method, options, rate, seeds, intervals, run ids


@dataclass
class Band:
    """A method's training loss: the mean over seeds at each logged step, and the lowest and highest seed."""

    method: str
    colour: str
    steps: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]
    seeds: int
    sweep: bool = False  # learning-rate sweep runs (one line per rate, joined by gaps)
    rates: list[float] = field(default_factory=list)
    point_rates: list = field(default_factory=list)  # a sweep band's rate at each point (None at a gap)


@dataclass
class Plot:
    kind: str  # quality-memory, quality-time, loss, memory-split, sweep, forest
    title: str
    caption: str  # how to read it, true of the static picture too
    data: dict
    hint: str = ""  # what the interactive one adds (hover, legend clicks): in report.html only


ZOOM = 0.25  # a cost axis starts at 0 unless its points span less than this share of the largest


def cost_axis(points: list) -> tuple[float, float, bool]:
    """(low, high, zoomed) of a cost axis: from 0, or, when every point lies within a narrow band far from 0 (the
    tiny suite's 415–467 MiB, where from-0 piles every marker onto one spot), zoomed to the points and said so."""
    lows = [p.x - (p.x_half or 0) for p in points]
    highs = [p.x + (p.x_half or 0) for p in points]
    low, high = min(lows), max(highs)
    if high <= 0 or low <= 0 or (high - low) >= ZOOM * high:
        return 0.0, high * 1.08 if high > 0 else 1.0, False
    pad = (high - low) * 0.12 or high * 0.01
    return low - pad, high + pad, True


def colours(rows: list[dict]) -> dict[str, str]:
    return {row["method"]: PALETTE[i % len(PALETTE)] for i, row in enumerate(rows)}


def _hover(row: dict, primary: str, cost: str, cost_text: str) -> list[str]:
    first = row["records"][0]
    method = first.config["method"]
    options = ", ".join(f"{k}={v}" for k, v in sorted((method.get("options") or {}).items())) or "none"
    seeds = ", ".join(str(r.seed) for r in row["records"])
    mean, half = row[primary]
    lines = [row["method"], f"method {method['name']}; options: {options}",
             f"learning rate {row['lr']:g}" if row["trains"] else "no training",
             f"seeds ({len(row['records'])}): {seeds}",
             f"{primary} {mean:.3f}" + (f" ± {half:.3f} (95 % CI)" if half is not None else " (one seed: no interval)"),
             f"{cost} {cost_text}",
             "runs: " + ", ".join(r.run_id.rsplit("__", 1)[-1][:8] for r in row["records"][:6])
             + (" …" if len(row["records"]) > 6 else "")]
    return lines


def quality_points(board, cost_key: str) -> list[Point]:
    """Ranked rows with a primary score; a row that does not train costs no training time (x = 0)."""
    primary, stats = board.primary, board.stats
    colour = colours(board.rows)
    front = stats.fronts["memory" if cost_key == "memory" else "time"]
    out = []
    for row in stats.ordered():
        if not row["ranked"] or row[primary][0] is None:
            continue
        mean, half = row[cost_key]
        if mean is None and row["trains"]:
            continue
        if cost_key == "memory":
            x, x_half = mean / MiB, (half / MiB if half is not None else None)
            text = f"{x:,.1f} MiB" + (f" ± {x_half:,.1f}" if x_half is not None else "")
        else:
            x, x_half = (mean or 0.0), half
            text = f"{x:,.1f} s" + (f" ± {x_half:,.1f}" if x_half is not None else "") if row["trains"] else "0 s"
        label = "peak memory" if cost_key == "memory" else "train time"
        out.append(Point(row["method"], colour[row["method"]], x, x_half, row[primary][0], row[primary][1],
                         row["method"] in front, _hover(row, primary, label, text)))
    return out


def _curve(record: RunRecord) -> tuple[list[float], list[float]]:
    curve = record.train["loss_curve"]
    steps = record.train.get("steps") or len(curve)
    return ([(i + 1) * steps / len(curve) for i in range(len(curve))],
            [float(v) if v is not None and math.isfinite(v) else None for v in curve])  # null: not finite


def _summary(column: list) -> tuple:
    values = [v for v in column if v is not None]
    return (statistics.fmean(values), min(values), max(values)) if values else (None, None, None)


def _band(method: str, colour: str, runs: list[RunRecord]) -> Band | None:
    curves = [_curve(r) for r in runs if (r.train or {}).get("loss_curve")]
    if not curves:
        return None
    length = min(len(ys) for _, ys in curves)  # seeds stopped by a time limit log fewer points
    steps = curves[0][0][:length]
    mean, low, high = (list(v) for v in zip(*[_summary([ys[i] for _, ys in curves]) for i in range(length)]))
    return Band(method, colour, steps, mean, low, high, len(curves))


def loss_bands(board) -> list[Band]:
    """One band per training row (its seeds); then, per swept method, its sweep runs' rates."""
    colour = colours(board.rows)
    out = [b for row in board.stats.ordered() if row["trains"]
           for b in [_band(row["method"], colour[row["method"]], row["records"])] if b]
    by_label: dict[str, dict[float, list]] = {}
    for r in board.group:
        if r.role == "sweep" and not r.evaluated and (r.train or {}).get("loss_curve"):
            by_label.setdefault(r.label, {}).setdefault(r.config["method"]["lr"], []).append(r)
    rows = {row["label"]: row for row in board.rows}
    order = [row["label"] for row in board.stats.ordered()]
    for label, rates in sorted(by_label.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else
                                                                  len(order), kv[0])):
        method = rows[label]["method"] if label in rows else label
        steps, mean, low, high, shown, point_rates = [], [], [], [], [], []
        for lr in sorted(rates):
            band = _band(method, "", rates[lr])
            if band is None:
                continue
            gap = [None] if steps else []
            steps += gap + band.steps
            mean += gap + band.mean
            low += gap + band.low
            high += gap + band.high
            point_rates += [None] * len(gap) + [lr] * len(band.steps)
            shown.append(lr)
        if shown:
            out.append(Band(method, colour.get(method, PALETTE[len(out) % len(PALETTE)]), steps, mean, low, high,
                            max(len(v) for v in rates.values()), sweep=True, rates=shown, point_rates=point_rates))
    return out


def memory_split(board) -> list[tuple[str, dict[str, float]]]:
    """Training rows with a measured step: MiB of weights, gradients, optimizer state and the rest."""
    return [(row["method"], {key: (row[key][0] or 0.0) / MiB for key in SPLIT_KEYS[:4]})
            for row in board.stats.ordered() if row["trains"] and row["weights"][0] is not None]


def sweep_scores(board) -> list[dict]:
    """Per swept method: each rate's validation score with its interval, and the chosen rate."""
    colour = colours(board.rows)
    out = []
    for row in board.stats.ordered():
        sel = row["selection"] or {}
        if not sel.get("grid"):
            continue
        intervals = sel.get("intervals") or {}
        points = []
        for lr, value in (sel.get("validation") or {}).items():
            if value is None:
                continue
            low, high = intervals.get(lr) or (value, value)
            points.append((float(lr), value, low, high))
        early = sorted((float(lr), value, rung.get("steps")) for rung in (sel.get("halving") or {}).get("rungs", [])
                       for lr, value in rung["validation"].items() if float(lr) not in rung["kept"] and value is not None)
        if points:
            out.append({"method": row["method"], "colour": colour[row["method"]], "points": sorted(points),
                        "early": early, "chosen": sel.get("chosen"), "seeds": sel.get("seeds") or [sel.get("seed", 0)]})
    return out


def forest(board) -> list[dict]:
    """Every row's difference to the reference: estimate and 95 % interval (the picture of which differences are
    real: an interval that crosses zero is not)."""
    stats = board.stats
    colour = colours(board.rows)
    out = []
    for row in stats.ordered():
        diff = stats.differences.get(row["method"])
        if diff is not None:
            out.append({"method": row["method"], "colour": colour[row["method"]], "estimate": diff.estimate,
                        "low": diff.low, "high": diff.high, "significant": diff.significant})
    return out


def learning_curves(board) -> dict:
    """Per method run at data budgets: (size, mean, low, high, seeds) by size; and 90 % of the reference."""
    from benchhub.report.budgets import SHARE, curves

    colour = colours(board.rows)
    out = []
    for method, sizes in curves(board).items():
        points = []
        for n, row in sizes.items():
            mean, half = row[board.primary]
            points.append((n, mean, mean - (half or 0), mean + (half or 0), len(row["records"])))
        out.append({"method": method, "colour": colour[next(iter(sizes.values()))["method"]], "points": points})
    reference = board.stats.reference
    line = SHARE * reference[board.primary][0] if reference and reference[board.primary][0] is not None else None
    return {"curves": out, "target": line, "reference": reference["label"] if reference else None}


def _learning_plot(board) -> list[Plot]:
    learning = learning_curves(board)
    if not learning["curves"]:
        return []
    return [Plot("learning-curve", f"{board.primary} vs training examples",
                 f"Each method's {board.primary} at each data budget (mean, with its 95 % CI over seeds as a band; log "
                 "x axis); the dashed line is 90 % of the reference's score with the most data. The subsets are "
                 "nested and the same for every method and seed.", learning,
                 "Hover for the interval and seeds; click a legend entry to hide a method.")]


def plots(board) -> list[Plot]:
    """The plots of one table, in the order the report shows them (only those with something to draw)."""
    primary = board.primary
    out = []
    if primary:
        unit = "mean ± 95 % CI over seeds"
        for kind, key, cost, zero in (("quality-memory", "memory", "peak memory", "memory"),
                                      ("quality-time", "train_s", "train time", "time")):
            points = quality_points(board, key)
            if points:
                low, high, zoomed = cost_axis(points)
                unit_x = "MiB" if key == "memory" else "s"
                axis = (f"the {cost} axis is zoomed to {low:,.1f}–{high:,.1f} {unit_x}, not from 0: the methods "
                        "differ by little" if zoomed else "both axes from 0")
                out.append(Plot(kind, f"{primary} vs {cost}",
                                f"Each method's {primary} against its {cost} ({unit}; {axis}). Up and to the left is "
                                f"better; the dashed line joins the {zero} Pareto front (no other method is both "
                                "better and cheaper beyond the seeds' noise).",
                                {"points": points, "axis": (low, high, zoomed),
                                 "x_title": f"{cost} ({unit_x}); " + ("zoomed, not from 0" if zoomed else "axis from 0")},
                                "Hover for options, rate, seeds and runs; click a legend entry to hide a method."))
    bands = loss_bands(board)
    if any(not b.sweep for b in bands):
        out.append(Plot("loss", "Training loss",
                        "Mean training loss over seeds per method (line) with the lowest and highest seed (band), "
                        "by optimizer step.", {"bands": bands},
                        "Learning-rate sweep runs are a separate legend group, hidden at first: click one to show "
                        "its rates (hover names the rate)."))
    split = memory_split(board)
    if split:
        out.append(Plot("memory-split", "Memory of one training step",
                        "Tensor bytes of one training step at the chosen micro-batch: weights, gradients, optimizer "
                        "state and the rest (activations and workspace), stacked; from 0.", {"split": split}))
    sweeps = sweep_scores(board)
    if sweeps:
        out.append(Plot("sweep", "Learning-rate sweep",
                        f"Validation {primary} per learning rate (95 % CI) for each swept method; the star is the rate "
                        "chosen; open circles: rates successive halving stopped early, scored there (fewer steps: lower, not "
                        "comparable with full length). Chosen on the validation split, never on the evaluation split.", {"sweeps": sweeps}))
    out += _learning_plot(board)
    diffs = forest(board)
    if diffs and board.stats.reference is not None:
        reference = board.stats.reference["method"]
        out.append(Plot("forest", f"Δ {primary} vs {reference}",
                        f"Each method's {primary} minus {reference}'s, with its 95 % interval (examples and seeds "
                        "counted). An interval that crosses the zero line is not a real difference; filled markers "
                        "are those that exclude zero.", {"diffs": diffs, "reference": reference}))
    return out
