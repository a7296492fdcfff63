"""Data budgets in the leaderboard (`--train-sizes`): each method's score at each training size (a learning curve)
and the smallest size at which it reaches 90 % of the reference method's score with the most data, with the
uncertainty of that size.

"Reaches" is read from a paired difference on the evaluation examples, counting both sides' seeds
(`stats.seed_aware_difference` of the method's per-example scores and 0.9 × the reference's): the size is the
first whose estimate is ≥ 0, and its plausible range runs from the first size whose 95 % interval reaches 0 to the
first whose interval lies above 0 ("beyond" the largest when none does).
"""
from __future__ import annotations

from collections import defaultdict

SHARE = 0.9  # the share of the reference's score a method is asked to reach


def curves(board) -> dict[str, dict[int, dict]]:
    """Method (its label without the size) -> {train size: row}, for ranked rows of a data budget."""
    out: dict = defaultdict(dict)
    for row in board.stats.ordered():
        size = (row["records"][0].config.get("train_subset") if row["records"] else None)
        if row["ranked"] and size and board.primary and row[board.primary][0] is not None:
            out[row["label"].rsplit(" @", 1)[0]][size] = row
    return {method: dict(sorted(sizes.items())) for method, sizes in out.items()}


def _reached(row: dict, reference: dict, primary: str):
    """The paired difference of the row and SHARE × the reference on the evaluation split (None: not testable)."""
    from benchhub.paired import example_matrix
    from benchhub.stats import seed_aware_difference

    a, b = example_matrix(row["records"], "eval", primary), example_matrix(reference["records"], "eval", primary)
    if a is None or b is None or a[0] != b[0]:
        return None
    return seed_aware_difference(a[1], [[SHARE * v for v in seed] for seed in b[1]], seeds_vary_a=row["trains"],
                                 seeds_vary_b=reference["trains"])


def smallest_size(sizes: dict[int, dict], reference: dict, primary: str) -> str:
    """'100 (30–300)': the smallest size reaching SHARE of the reference, and its plausible range."""
    diffs = {n: _reached(row, reference, primary) for n, row in sizes.items()}
    if any(d is None for d in diffs.values()):
        return "–"
    point = next((n for n, d in diffs.items() if d.estimate >= 0), None)
    early = next((n for n, d in diffs.items() if d.high >= 0), None)
    firm = next((n for n, d in diffs.items() if d.low >= 0), None)
    largest = max(sizes)
    if early is None:
        return f"not reached (beyond {largest})"
    if point is None:
        return f"beyond {largest} ({early}–beyond {largest})"
    high = firm if firm is not None else f"beyond {largest}"
    return f"{point}" if early == point == firm else f"{point} ({early}–{high})"


def budget_table(board, code, fmt_num) -> list[str]:
    """The data-budget table (Markdown; `code`, `fmt_num`: the leaderboard's formatting): score per size (mean ±
    95 % CI, seeds) and the smallest size reaching 90 % of the reference."""
    found = curves(board)
    if not found or not board.primary:
        return []
    primary = board.primary
    sizes = sorted({n for by in found.values() for n in by})
    reference = board.stats.reference
    ref_name = reference["label"] if reference else None
    lines = ["", f"Data budgets: every training method on nested, stratified subsets of the training split (the same "
                 f"images for every method and seed); the optimizer steps stay the budget's at every size, so a smaller "
                 f"subset is seen for more epochs: the budgets compare data, not compute. {primary} on the evaluation "
                 "split, mean ± 95 % CI over seeds:", "",
             "| Method | " + " | ".join(f"{n} examples" for n in sizes)
             + (f" | Smallest size reaching {SHARE:.0%} of {code(ref_name)} [plausible range] |" if reference else " |"),
             "|:---|" + "---:|" * len(sizes) + (":---|" if reference else "")]
    for method, by in found.items():
        cells = [fmt_num(*by[n][primary], 3) + f" (n={len(by[n]['records'])})" if n in by else "–" for n in sizes]
        reach = [smallest_size(by, reference, primary)] if reference else []
        lines.append(f"| {code(method)} | " + " | ".join(cells + reach) + " |")
    if reference:
        lines += ["", f"Reaching: a paired difference (per evaluation example, both sides' seeds counted) between the "
                      f"method and {SHARE:.0%} of {code(ref_name)}'s score with the most data; the size is the first "
                      "whose estimate is at least 0, the range from the first whose interval reaches 0 to the first "
                      "whose interval lies above it."]
    return lines
