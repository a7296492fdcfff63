"""The Markdown leaderboard of a suite: one table per model (and budget), best values bold."""
from __future__ import annotations

import json

from benchhub.budget import Budget, format_bytes
from benchhub.records import RunRecord, Status
from benchhub.report.budgets import budget_table
from benchhub.report.sweeptable import sweep_table
from benchhub.report.ranking import TableStats, boards, fmt_difference
from benchhub.report.rows import BUSY, busy_mark, status_text

TASK_WORDS = {"caption": "captioning", "vqa": "VQA", "classify": "classification"}


def code(text: str) -> str:
    """Plugin-provided text (a method label with options) as a Markdown code span that cannot break a
    table or inject markup: pipes escaped, backticks and line breaks replaced."""
    return "`" + str(text).replace("`", "'").replace("\n", " ").replace("|", "\\|") + "`"


def md_text(text: str) -> str:
    """Plugin-provided prose (an error message) with Markdown and HTML special characters escaped."""
    out = str(text).replace("\n", " ").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#":
        out = out.replace(ch, "\\" + ch)
    return out


def fmt_num(mean, std, digits: int) -> str:
    if mean is None:
        return "–"
    text = f"{mean:,.{digits}f}"
    return f"{text} ± {std:.{digits}f}" if std is not None else text


def render_leaderboard(records: list[RunRecord], suite: str, describe_metric=None, figure=None) -> str:
    """The Markdown leaderboard of a suite's records (deterministic for the same records).

    `describe_metric(label) -> (citation, task) | None` asks the metric plugins where numbers come from.
    `figure(index, board, plot) -> src | None` draws a table's plot (`figures.plots`) and says where the picture
    is: each table is then followed by its plots, each with a heading and a caption.
    """
    lines = [f"# Leaderboard: {code(suite)}", ""]
    if not records:
        return "\n".join(lines + ["No results yet. Run `benchhub run`.", ""])
    tables = boards(records, _View)
    budgets = sorted({b.budget for b in tables})
    lines += _preamble(records, budgets, describe_metric) + [""]
    for index, board in enumerate(tables):
        lines += _table(board, len(budgets) > 1)
        if figure is not None:
            lines += _plots(index, board, figure)
    lines += [_footnote(records), ""]
    return "\n".join(lines)


def _preamble(records: list[RunRecord], budgets: list[str], describe_metric) -> list[str]:
    lines = []
    if len(budgets) == 1:
        lines.append(f"- **Budget:** {Budget(**json.loads(budgets[0])).describe()}")
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
    from benchhub.report.ranking import MIN_SEEDS, RANKING

    text = ("Metric cells: mean ± 95 % confidence half-width over seeds (Student t; none with one seed) and the "
            f"number of seeds n. Rank: {RANKING}; bold marks only a method significantly better than every other; "
            f"– no rank: a method that trains with fewer than {MIN_SEEDS} seeds, or records that allow no test. "
            "Differences and forgetting carry a 95 % interval that counts both the evaluation examples (paired) "
            "and each method's seed-to-seed variance (Welch–Satterthwaite degrees of freedom), \\* where it "
            "excludes zero (each on its own; the ranks correct for the number of pairs). "
            "↑ higher is better, ↓ lower is better. ")
    text += DASHES + " "
    baselines = sorted({r.baseline for r in records if r.baseline})
    for baseline in baselines:
        runs = [r for r in records if r.label == baseline]
        trains = any((r.parameters or {}).get("trainable") for r in runs) or not runs
        what = "the suite's baseline" if trains else "the pre-trained model without fine-tuning"
        text += f"{code(baseline)} is {what}" + ("; it was not run here, so Forgetting is –. " if not runs else ". ")
    return text.rstrip()


DASHES = ("– in a cell: Δ and Forgetting of a row that is not ranked (failed, over budget, does not fit, stopped "
          "early) or whose reference or baseline has no current record; LR, Train s, Samples/s and µbatch of a "
          "method that does not train; Pareto front: on neither front; Peak memory and Trainable params: not "
          "measured (the run failed first).")


def _table(board, several_budgets: bool) -> list[str]:
    group, columns, higher, rows, view = board.group, board.columns, board.higher, board.rows, board.stats
    heading = f"## {code(board.model)} on {code(board.dataset)}"
    if several_budgets:
        heading += f" ({Budget(**json.loads(board.budget)).describe()})"
    header = ["Rank", "Method", *[f"{c} {'↑' if higher[c] else '↓'}" for c in columns], *view.extra_headers(),
              "LR", "Train s ↓", "Eval s", "Samples/s ↑", "Peak memory ↓", "Trainable params ↓", "µbatch × accum",
              "Pareto front", "Status"]
    lines = [heading, "", f"Measured on {md_text(board.environment)}.", "", "| " + " | ".join(header) + " |",
             "|" + "|".join([":---:", ":---"] + ["---:"] * (len(header) - 5) + [":---", ":---", ":---"]) + "|"]
    best_trainable = min((r["trainable"] for r in rows if r["ranked"] and r["trains"]), default=None)
    lines += ["| " + " | ".join(_cells(row, columns, view, best_trainable)) + " |" for row in view.ordered()]
    busy = [row for row in rows if row["busy"]]
    if busy:
        lines += ["", f"{BUSY} timed on a busy machine ({md_text('; '.join(sorted({w for r in busy for w in r['busy']})))}"
                      "): these timings are not comparable with the others (each record's `load` says more)."]
    missing = _missing(board)
    if missing:
        lines += ["", missing]
    lines += _seeds_note(board) + budget_table(board, code, fmt_num)
    lines += sweep_table(rows, board.primary, code) + _memory_table(rows) + _others(board)
    errors = [(row["method"], seed, err) for row in rows for seed, err in row["errors"]]
    errors += [(r.label, r.seed, f"(lr {r.config['method']['lr']:g} sweep) {r.error}") for r in group
               if r.role in ("rung", "sweep") and r.status is Status.FAILED]
    if errors:
        lines += ["", "Failures:"] + [f"- {code(m)} seed {s}: {md_text(e)}" for m, s, e in errors]
    return lines + [""]


def _seeds_note(board) -> list[str]:
    """With adaptive seeds: how many seeds each training row got and why (the looks replayed from its records)."""
    from benchhub.seeding import Auto, decide, explain

    given = board.stats.seeding
    if not given or not board.primary:
        return []
    auto = Auto(given["min"], given["max"])
    rows = {r["method"]: (r["records"], r["trains"]) for r in board.rows if r["ranked"]}
    _, seen = decide(rows, board.primary, board.stats.higher, auto)
    why = "; ".join(f"{code(m)} {len(recs)}: {explain(seen[m], auto)}" for m, (recs, trains) in rows.items() if trains)
    return ["", f"Seeds chosen adaptively: {auto.low} to {auto.high} per method, ranks looked at with "
                f"{', '.join(map(str, auto.looks))} seeds; a method whose rank was still ambiguous got the next look's "
                f"seeds. Every rank test of this table is at {100 * auto.alpha:.2f} % (5 % over the {len(auto.looks)} "
                "looks, Bonferroni): stopping when ranks separate would otherwise separate equal methods more often "
                f"than 5 % of the time (benchmarks/adaptive.py). Seeds per method: {why}."]


def _plots(index: int, board, figure) -> list[str]:
    from benchhub.report.figures import plots

    lines = []
    for plot in plots(board):
        src = figure(index, board, plot)
        if src:
            lines += [f"### {md_text(plot.title)}", "", md_text(plot.caption), "", f"![{md_text(plot.title)}]({src})", ""]
    return lines


def _missing(board) -> str | None:
    """Why a whole column is – in this table (the source scores, but no baseline run to measure forgetting from)."""
    baseline = board.group[0].baseline
    if board.without_baseline and baseline:
        return (f"Forgetting is – in every row: the baseline {code(baseline)} has no current ranked record in this "
                f"table; run it beside the others (e.g. {code('--methods ' + baseline + ',…')}).")
    return None


def _others(board) -> list[str]:
    """Records of this table's model, data and budget that it does not rank, and why (`currency`)."""
    from benchhub.report.currency import REFRESH, summary

    lines = ["", f"**Not current:** {md_text(board.note)}"] if board.note else []
    if not board.stale:
        return lines
    lines += ["", f"Not ranked: {len(board.stale)} record(s) set aside, kept on disk ({REFRESH}):"]
    for label, runs, seeds, reasons in summary(board.stale):
        lines.append(f"- {code(label)} ({runs} run{'s' * (runs > 1)}, seed {seeds}): {md_text(reasons)}")
    return lines


class _View(TableStats):
    """A table's statistics as Markdown cells."""

    def extra_headers(self) -> list[str]:
        out = []
        if self.reference is not None:
            out.append(f"Δ {self.primary} vs {code(self.reference['method'])} [95 % CI]")
        if self.has_source:
            out += [f"Source {self.primary} {'↑' if self.higher else '↓'}", "Forgetting ↓ [95 % CI]"]
        return out

    def rank_cell(self, row: dict) -> str:
        if row["method"] not in self.ranks:
            return "–"
        placing = self.ranks[row["method"]]
        return f"**{placing.text}**" if placing.alone else placing.text

    def extra_cells(self, row: dict) -> list[str]:
        out = []
        if self.reference is not None:
            out.append("reference" if row is self.reference else fmt_difference(self.differences.get(row["method"])))
        if self.has_source:
            source = _with_n(fmt_num(*row["source"], 3), row) if row["ranked"] else "–"
            out += [source, "baseline" if row is self.baseline else fmt_difference(self.forgetting.get(row["method"]))]
        return out


def _status_text(row: dict) -> str:
    icon = {Status.OK: "✅", Status.OVER_BUDGET: "⚠️", Status.DOES_NOT_FIT: "🚫"}.get(row["status"], "❌")
    return f"{icon} {status_text(row)}"


def _lr_text(row: dict) -> str:
    if not row["trains"]:
        return "–"
    grid = (row["selection"] or {}).get("grid")
    return f"{row['lr']:g} of {', '.join(f'{g:g}' for g in grid)}" if grid else f"{row['lr']:g}"


def _cells(row: dict, columns: list[str], view: _View, best_trainable) -> list[str]:
    trains = row["trains"]
    share = f" ({100 * row['trainable'] / row['total']:.2f} %)" if row["total"] else ""
    trainable = "–" if row["trainable"] is None else f"{row['trainable']:,}{share}"
    if row["ranked"] and trains and row["trainable"] == best_trainable:
        trainable = f"**{trainable}**"
    mem = row["memory"][0]
    significantly_best = row["method"] in view.ranks and view.ranks[row["method"]].alone

    def metric(c):
        text = _with_n(fmt_num(*row[c], 3), row)
        return f"**{text}**" if significantly_best and c == view.primary else text

    fronts = ", ".join(name for name, members in view.fronts.items() if row["method"] in members) or "–"
    return [view.rank_cell(row), code(row["method"]), *[metric(c) for c in columns], *view.extra_cells(row),
            _lr_text(row), busy_mark(fmt_num(*row["train_s"], 1) if trains else "–", row),
            busy_mark(fmt_num(*row["eval_s"], 1), row), busy_mark(fmt_num(*row["sps"], 1) if trains else "–", row),
            "–" if mem is None else format_bytes(int(mem)),
            trainable, row["batching"] if trains and row["status"] is not Status.DOES_NOT_FIT else "–",
            fronts, _status_text(row)]


def _with_n(text: str, row: dict) -> str:
    """A metric cell: 'mean ± half-width (n=seeds)'."""
    return text if text == "–" else f"{text} (n={len(row['records'])})"


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
            code(row["method"]), _search_text(row["search"]), size(row["weights"]), size(row["gradients"]),
            size(row["optimizer"]), size(row["activations_other"]), size(row["peak_allocated"]),
            flops(row["flops_per_step"], "FLOP"), flops(row["flops_per_second"], "FLOP/s"), mfu]) + " |")
    return lines
