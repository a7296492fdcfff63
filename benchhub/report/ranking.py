"""What a careful reader needs beside the means: differences to the reference with paired-bootstrap
intervals, shared ranks of methods that are not significantly apart, and forgetting of the source domain.

Each row's records are its seeds. Per-example scores (`record.per_example[split][score]`) make the
comparisons paired: two rows are compared on the examples both were scored on, resampling the
examples (shared) and each row's seeds. Rows without per-example scores (records older than
schema 3, metrics that give none) fall back to Welch's t-test over seeds, or to "tied" with one seed.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from benchhub.records import RunRecord
from benchhub.stats import Difference, paired_bootstrap, rank_groups

CONFIDENCE = 0.95


def example_matrix(records: list[RunRecord], split: str, score: str) -> tuple[list, list] | None:
    """(example ids, seeds × examples scores) of one row on one split, on the ids every seed has; None if absent."""
    per = [(r.per_example.get(split) or {}) for r in records]
    if not per or any(score not in p or "ids" not in p for p in per):
        return None
    common = set(per[0]["ids"]).intersection(*(p["ids"] for p in per[1:]))
    ids = [i for i in per[0]["ids"] if i in common]
    rows = []
    for p in per:
        where = dict(zip(p["ids"], p[score]))
        rows.append([where[i] for i in ids])
    return ids, rows


def difference(a: list[RunRecord], b: list[RunRecord], split: str, score: str) -> Difference | None:
    """mean(a) − mean(b) on `split` with a paired bootstrap interval; None without shared per-example scores."""
    ma, mb = example_matrix(a, split, score), example_matrix(b, split, score)
    if ma is None or mb is None:
        return None
    shared = [i for i in ma[0] if i in set(mb[0])]
    if not shared:
        return None
    pick_a, pick_b = ({i: k for k, i in enumerate(m[0])} for m in (ma, mb))
    rows_a = [[row[pick_a[i]] for i in shared] for row in ma[1]]
    rows_b = [[row[pick_b[i]] for i in shared] for row in mb[1]]
    return paired_bootstrap(rows_a, rows_b, confidence=CONFIDENCE)


def seeds_differ(a: list[float], b: list[float]) -> bool:
    """Welch's t-test over seeds (p < 0.05) when per-example scores are missing; False with < 2 seeds each."""
    if len(a) < 2 or len(b) < 2:
        return False
    from scipy.stats import ttest_ind

    return bool(ttest_ind(a, b, equal_var=False).pvalue < 1 - CONFIDENCE)


def ranks(rows: list[dict], primary: str, higher: bool) -> dict:
    """Row method -> (rank, tied) for the ranked rows, best first; rows not significantly apart share a rank."""
    ranked = [r for r in rows if r["ranked"] and r[primary][0] is not None]
    ranked.sort(key=lambda r: -r[primary][0] if higher else r[primary][0])
    if not any(example_matrix(r["records"], "eval", primary) or len(r["records"]) > 1 for r in ranked):
        return {}  # one seed and no per-example scores anywhere: nothing can be tested, nothing is ranked

    def significant(i: int, j: int) -> bool:
        a, b = ranked[i], ranked[j]
        diff = difference(a["records"], b["records"], "eval", primary)
        if diff is not None:
            return diff.significant
        return seeds_differ([r.metrics[primary] for r in a["records"]], [r.metrics[primary] for r in b["records"]])

    groups = rank_groups([(r["method"], r[primary][0]) for r in ranked], significant)
    return {g.name: (g.rank, g.tied) for g in groups}


def reference_row(rows: list[dict], reference: str | None) -> dict | None:
    return next((r for r in rows if reference and r["label"] == reference and r["ranked"]), None)


def forgetting(row: dict, baseline: dict | None, primary: str) -> Difference | None:
    """Baseline (zero-shot) source score minus this row's source score, with its paired interval."""
    if baseline is None or row is baseline:
        return None
    return difference(baseline["records"], row["records"], "source", primary)


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
        self.ranks = ranks(rows, primary, higher) if primary else {}
        self.reference = reference_row(rows, next((r.reference for r in group if r.reference), None))
        baseline = group[0].baseline
        self.baseline = next((r for r in rows if r["label"] == baseline and r["ranked"]), None)
        self.has_source = any(r["source"][0] is not None for r in rows)
        self.fronts = {"memory": pareto_front(rows, primary, higher, lambda r: r["memory"]),
                       "time": pareto_front(rows, primary, higher, lambda r: r["train_s"])}
        self.differences, self.forgetting = {}, {}
        for row in rows:
            key = row["method"]
            if self.reference is not None and row["ranked"] and row is not self.reference:
                self.differences[key] = difference(row["records"], self.reference["records"], "eval", primary)
            if self.has_source and row["ranked"]:
                self.forgetting[key] = forgetting(row, self.baseline, primary)

    def ordered(self) -> list[dict]:
        """Ranked rows by rank (then as `table_rows` ordered them), then the unranked."""
        far = 10 ** 9
        return sorted(self.rows, key=lambda r: (self.ranks.get(r["method"], (far,))[0], self.rows.index(r)))


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
    others: list = field(default_factory=list)  # (environment, records) measured elsewhere: not in the table


def environment_key(record: RunRecord) -> str:
    """'device · library versions' of a record: rows compare runs of one environment only."""
    env = record.environment or {}
    versions = " ".join(f"{k} {v}" for k, v in sorted((env.get("versions") or {}).items()) if v)
    return f"{env.get('device') or '?'} · {versions}"


def split_environments(group: list[RunRecord]) -> tuple[str, list, list]:
    """(the table's environment: that of its latest run, its records, [(environment, records)] of the others)."""
    by_env: dict[str, list] = defaultdict(list)
    for r in group:
        by_env[environment_key(r)].append(r)
    latest = environment_key(max(group, key=lambda r: r.started_at or ""))
    return latest, by_env.pop(latest), sorted(by_env.items())


def boards(records: list[RunRecord], stats_cls: type = TableStats) -> list[Board]:
    """The tables every leaderboard view (Markdown, HTML, JSON, terminal) shows, in order."""
    from benchhub.report.rows import group_key, table_rows

    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[group_key(r)].append(r)
    out = []
    for (model, dataset, budget), everything in sorted(groups.items()):
        environment, group, others = split_environments(everything)
        scoring = group[0].scoring
        primary = scoring.get("primary") or next(iter(group[0].metrics), None)
        columns = list(scoring.get("columns") or [])
        if primary and primary not in columns:
            columns.insert(0, primary)
        higher = {c: (scoring.get("higher_is_better") or {}).get(c, True) for c in columns}
        up = higher.get(primary, True) if primary else True
        rows = table_rows(group, columns, primary, up)
        out.append(Board(model, dataset, budget, group, primary, columns, higher, rows,
                         stats_cls(rows, group, primary, up), environment, others))
    return out
