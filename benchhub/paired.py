"""Two methods' records compared on the examples both were scored on: per-example score matrices (seeds ×
examples), their difference with an interval that counts the examples (paired) and each side's seeds
(`stats.seed_aware_difference`), and Welch's test over seeds where per-example scores are missing."""
from __future__ import annotations

from benchhub.records import RunRecord
from benchhub.stats import Difference, seed_aware_difference

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


def difference(a: list[RunRecord], b: list[RunRecord], split: str, score: str,
               vary: tuple[bool, bool] = (True, True)) -> Difference | None:
    """mean(a) − mean(b) on `split` over the examples both have, its interval counting the examples and each
    side's seeds (`vary`: whether a side's seeds vary its score; a method that trains nothing is
    deterministic); None without shared per-example scores, or with one seed on a side whose seeds vary."""
    ma, mb = example_matrix(a, split, score), example_matrix(b, split, score)
    if ma is None or mb is None:
        return None
    shared = [i for i in ma[0] if i in set(mb[0])]
    if not shared:
        return None
    pick_a, pick_b = ({i: k for k, i in enumerate(m[0])} for m in (ma, mb))
    rows_a = [[row[pick_a[i]] for i in shared] for row in ma[1]]
    rows_b = [[row[pick_b[i]] for i in shared] for row in mb[1]]
    return seed_aware_difference(rows_a, rows_b, seeds_vary_a=vary[0], seeds_vary_b=vary[1], confidence=CONFIDENCE)


def rank_p_value(a: list[RunRecord], b: list[RunRecord], primary: str, vary: tuple[bool, bool]) -> float | None:
    """The p-value ranks test two rows' difference on the evaluation split with: paired over the examples with
    each side's seeds (`difference`), else Welch's test over the seeds' scores."""
    diff = difference(a, b, "eval", primary, vary=vary)
    if diff is not None:
        return diff.p_value
    return seeds_p_value([r.metrics[primary] for r in a], [r.metrics[primary] for r in b])


def seeds_p_value(a: list[float], b: list[float]) -> float | None:
    """Welch's t-test over seeds when per-example scores are missing; None with < 2 seeds on a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    import warnings

    from scipy.stats import ttest_ind

    with warnings.catch_warnings():  # seeds that agree to the last digit: scipy warns, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        p = ttest_ind(a, b, equal_var=False).pvalue
    return None if p != p else float(p)  # NaN: no variance on either side


def seeds_differ(a: list[float], b: list[float]) -> bool:
    """Welch's t-test over seeds significant at 5 %; False with < 2 seeds on a side."""
    p = seeds_p_value(a, b)
    return p is not None and p < 1 - CONFIDENCE
