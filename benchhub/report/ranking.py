"""What a careful reader needs beside the means: differences to the reference with intervals that count the
evaluation examples and the seeds, ranks by Holm-corrected pairwise tests, and forgetting of the source domain.

Each row's records are its seeds. Per-example scores (`record.per_example[split][score]`) make the
comparisons paired: two rows are compared on the examples both were scored on; the variance of the
difference adds the examples' (paired) and each side's seed-to-seed variance, with Welch degrees of
freedom (`stats.seed_aware_difference`). Rows without per-example scores (records older than schema 3,
metrics that give none) fall back to Welch's t-test over seeds.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from benchhub.paired import CONFIDENCE, difference
from benchhub.seeding import MIN_SEEDS, rank_items  # noqa: F401 - MIN_SEEDS: the footnote's
from benchhub.records import RunRecord
from benchhub.stats import Difference


RANKING = ("rank = 1 + the number of methods significantly better, by Welch tests of every pair (examples and "
           "seeds both counted) at 5 % with Holm's correction for the number of pairs; a range "
           "(e.g. 2–4) runs from that rank to the worst one the tests allow")


@dataclass(frozen=True)
class Placing:
    """A ranked row's rank and the range of ranks its tests allow."""

    rank: int
    worst: int

    @property
    def text(self) -> str:
        return str(self.rank) if self.worst == self.rank else f"{self.rank}–{self.worst}"

    @property
    def alone(self) -> bool:
        """Significantly better than every other ranked row."""
        return self.rank == 1 and self.worst == 1


def rankable(row: dict, primary: str) -> bool:
    """Ranked only when complete and, if it trains, with at least MIN_SEEDS seeds."""
    return row["ranked"] and row[primary][0] is not None and (not row["trains"] or len(row["records"]) >= MIN_SEEDS)


def ranks(rows: list[dict], primary: str, higher: bool, alpha: float = 1 - CONFIDENCE) -> dict:
    """Row method -> Placing for the rankable rows (`RANKING` says how; `alpha`: the tests' level, lower for a
    table whose seeds were chosen adaptively, `seeding`)."""
    ranked = [(r["method"], r[primary][0], r["records"], r["trains"]) for r in rows if rankable(r, primary)]
    if len(ranked) < 2:
        return {}
    return {name: Placing(*placing) for name, placing in rank_items(ranked, primary, higher, alpha).items()}


def reference_row(rows: list[dict], reference: str | None) -> dict | None:
    """The reference's row; with data budgets (`reference @N`), the one with the most training examples."""
    exact = next((r for r in rows if reference and r["label"] == reference and r["ranked"]), None)
    sized = [r for r in rows if reference and r["ranked"] and r["label"].startswith(f"{reference} @")
             and r["records"] and r["records"][0].config.get("train_subset")]
    return exact or max(sized, key=lambda r: r["records"][0].config["train_subset"], default=None)


def forgetting(row: dict, baseline: dict | None, primary: str) -> Difference | None:
    """Baseline (zero-shot) source score minus this row's source score, with its interval."""
    if baseline is None or row is baseline:
        return None
    return difference(baseline["records"], row["records"], "source", primary, vary=(baseline["trains"], row["trains"]))


def fmt_difference(diff: Difference | None, digits: int = 3) -> str:
    """'+0.123 [+0.050, +0.200] *' (the star: the interval excludes zero)."""
    if diff is None:
        return "–"
    mark = " \\*" if diff.significant else ""
    return f"{diff.estimate:+.{digits}f} [{diff.low:+.{digits}f}, {diff.high:+.{digits}f}]{mark}"


def pareto_front(rows: list[dict], primary: str | None, higher: bool, cost) -> set[str]:
    """Methods of ranked, training rows that no other row dominates: as good or better in quality (the
    primary score's mean) and not dearer in `cost(row)` (a (mean, 95 % half-width) pair), strictly better
    in one of the two. Cost means whose seed intervals overlap count as equal: differences within the
    measured noise decide nothing. Rows that do not train (the zero-shot baseline) cost no training and
    are never on a front."""
    points = [(r["method"], r[primary][0], cost(r)) for r in rows
              if primary and r["ranked"] and r["trains"] and r[primary][0] is not None and cost(r)[0] is not None]
    sign = 1 if higher else -1

    def cheaper(a, b):  # a's cost below b's beyond both intervals
        return a[0] + (a[1] or 0) < b[0] - (b[1] or 0)

    def dominates(a, b):
        no_dearer = not cheaper(b[2], a[2])
        return sign * a[1] >= sign * b[1] and no_dearer and (sign * a[1] > sign * b[1] or cheaper(a[2], b[2]))

    return {p[0] for p in points if not any(dominates(q, p) for q in points if q is not p)}


class TableStats:
    """The statistics of one leaderboard table, computed once: ranks, each row's difference to the
    reference, source scores and forgetting (rows from `rows.table_rows`)."""

    def __init__(self, rows: list[dict], group: list[RunRecord], primary: str | None, higher: bool):
        self.rows, self.primary, self.higher = rows, primary, higher
        self.seeding = next((r.seeding for r in group if r.seeding and not r.grid_point), None)
        self.alpha = self.seeding["alpha"] if self.seeding else 1 - CONFIDENCE
        self.ranks = ranks(rows, primary, higher, self.alpha) if primary else {}
        self.reference = reference_row(rows, next((r.reference for r in group if r.reference), None))
        baseline = group[0].baseline
        self.baseline = next((r for r in rows if r["label"] == baseline and r["ranked"]), None)
        self.has_source = any(r["source"][0] is not None for r in rows)
        ranked = [r for r in rows if primary and rankable(r, primary)]  # a one-seed run moves no front
        self.fronts = {"memory": pareto_front(ranked, primary, higher, lambda r: r["memory"]),
                       "time": pareto_front(ranked, primary, higher, lambda r: r["train_s"])}
        self.differences, self.forgetting = {}, {}
        for row in rows:
            key = row["method"]
            if self.reference is not None and row["ranked"] and row is not self.reference:
                self.differences[key] = difference(row["records"], self.reference["records"], "eval", primary,
                                                   vary=(row["trains"], self.reference["trains"]))
            if self.has_source and row["ranked"]:
                self.forgetting[key] = forgetting(row, self.baseline, primary)

    def ordered(self) -> list[dict]:
        """Ranked rows by rank (then as `table_rows` ordered them), then the unranked."""
        far = 10 ** 9
        return sorted(self.rows, key=lambda r: (self.ranks[r["method"]].rank if r["method"] in self.ranks else far,
                                                self.rows.index(r)))


@dataclass
class Board:
    """One leaderboard table: a model × dataset × budget, its scoring, aggregated rows and statistics."""

    model: str
    dataset: str
    budget: str  # the budget as JSON
    group: list
    primary: str | None
    columns: list  # the metric columns shown, the primary first when the metric does not list it
    higher: dict  # column -> higher is better
    rows: list
    stats: TableStats
    environment: str = ""  # the device and library versions every row of the table was measured with
    stale: list = field(default_factory=list)  # (record, [reasons]) set aside: not in the table (`currency`)
    note: str | None = None  # why the table shows records that are not current, when none is

    @property
    def without_baseline(self) -> bool:
        """Runs were scored on the source split, but no current ranked baseline run measures forgetting from."""
        return self.stats.has_source and self.stats.baseline is None


def environment_key(record: RunRecord) -> str:
    """'device (CPU instruction set) · library versions' of a record: rows compare runs of one environment only."""
    env = record.environment or {}
    versions = " ".join(f"{k} {v}" for k, v in sorted((env.get("versions") or {}).items()) if v)
    capability = (env.get("machine") or {}).get("cpu_capability")
    return f"{env.get('device') or '?'}{f' ({capability})' if capability else ''} · {versions}"


def boards(records: list[RunRecord], stats_cls: type = TableStats, now: dict | None = None) -> list[Board]:
    """The tables every leaderboard view (Markdown, HTML, JSON, terminal) shows, in order: each ranks only
    its current records (`currency`; `now`: today's environment, default this machine's)."""
    from benchhub.report.currency import split
    from benchhub.report.rows import group_key, table_rows

    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[group_key(r)].append(r)
    out = []
    for (model, dataset, budget), everything in sorted(groups.items()):
        currency = split(everything, now)
        group = currency.current
        environment = environment_key(group[0])
        scoring = group[0].scoring
        primary = scoring.get("primary") or next(iter(group[0].metrics), None)
        columns = list(scoring.get("columns") or [])
        if primary and primary not in columns:
            columns.insert(0, primary)
        higher = {c: (scoring.get("higher_is_better") or {}).get(c, True) for c in columns}
        up = higher.get(primary, True) if primary else True
        rows = table_rows(group, columns, primary, up)
        out.append(Board(model, dataset, budget, group, primary, columns, higher, rows,
                         stats_cls(rows, group, primary, up), environment, currency.stale, currency.note))
    return out
