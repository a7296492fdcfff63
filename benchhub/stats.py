"""Confidence intervals, paired bootstrap comparisons and shared ranks for result tables.

* `t_interval` - mean and Student-t half-width of a handful of runs (e.g. one metric over seeds);
* `paired_bootstrap` - is method A better than method B on the same evaluation examples,
  counting both the example sample and the seed-to-seed variation;
* `rank_groups` - shared-task style ranks, where items that are not significantly different
  share a rank.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

# Replicates drawn per batch, sized so one batch's count matrix stays around 16 MB.
_BATCH_CELLS = 2_000_000


@dataclass(frozen=True)
class Interval:
    """A mean with a symmetric confidence half-width (None when it cannot be estimated)."""

    mean: float | None
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        """Lower end of the interval, None without a half-width."""
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        """Upper end of the interval, None without a half-width."""
        return None if self.half_width is None else self.mean + self.half_width


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Rank:
    """One item's competition rank; `tied` when its group has more than one member."""

    name: str
    rank: int
    tied: bool


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of the finite `values` and its Student-t confidence half-width.

    half_width = t.ppf((1 + confidence) / 2, n - 1) * s / sqrt(n), with s the sample standard
    deviation (ddof=1). NaN and infinite values are dropped first; with fewer than two values
    left the half-width is None (and with none left the mean is None too).
    """
    from scipy import stats

    _check_confidence(confidence)
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(None, None, 0)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, None, n)
    t = float(stats.t.ppf((1 + confidence) / 2, n - 1))
    return Interval(mean, t * float(x.std(ddof=1)) / math.sqrt(n), n)


def _as_scores(scores, name: str) -> np.ndarray:
    """Scores as a 2-D float array, seeds x examples (a 1-D sequence is one seed)."""
    arr = np.asarray(scores, dtype=float)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (examples) or 2-D (seeds x examples), got {arr.ndim}-D")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no seeds")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite scores")
    return arr


def _resample_counts(rng: np.random.Generator, rows: int, size: int) -> np.ndarray:
    """(rows, size) matrix: how often each of `size` indices is drawn in `rows` resamples of `size`."""
    draws = rng.integers(0, size, size=(rows, size))
    flat = (draws + size * np.arange(rows)[:, np.newaxis]).ravel()
    return np.bincount(flat, minlength=rows * size).reshape(rows, size)


def _replicates(a: np.ndarray, b: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` bootstrap replicates of mean(a) - mean(b) (see `paired_bootstrap`)."""
    n, ka = a.shape[1], a.shape[0]
    examples = _resample_counts(rng, count, n) / n          # shared by a and b: paired
    row_means = examples @ np.vstack([a, b]).T              # (count, ka + kb) resampled row means
    seeds_a = _resample_counts(rng, count, ka) / ka         # seeds of a and b resampled independently
    seeds_b = _resample_counts(rng, count, b.shape[0]) / b.shape[0]
    mean_a = np.einsum("rk,rk->r", seeds_a, row_means[:, :ka])
    mean_b = np.einsum("rk,rk->r", seeds_b, row_means[:, ka:])
    return mean_a - mean_b


def paired_bootstrap(a, b, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Difference:
    """Percentile bootstrap interval for mean(a) - mean(b) on the same evaluation examples.

    `a` and `b` are per-example scores: a 1-D sequence (one seed) or seeds x examples. Their seed
    counts may differ; their example counts must match (column j is the same example in both).
    The statistic is the mean over seeds of the mean over examples. Each replicate resamples the
    example indices once, shared by a and b, and the seeds (rows) of a and of b independently,
    all with replacement; a side with a single seed keeps it. Deterministic for a given `seed`.
    """
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples!r}")
    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must score the same examples: a has {a.shape[1]}, b has {b.shape[1]}")
    if a.shape[1] == 0:
        raise ValueError("a and b have no examples")
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_CELLS // a.shape[1])
    diffs = np.concatenate([
        _replicates(a, b, min(batch, resamples - start), rng) for start in range(0, resamples, batch)
    ])
    alpha = (1 - confidence) / 2
    low, high = np.percentile(diffs, [100 * alpha, 100 * (1 - alpha)])
    return Difference(float(a.mean() - b.mean()), float(low), float(high), confidence, resamples)


def rank_groups(items: Sequence[tuple[str, float]], significant: Callable[[int, int], bool]) -> list[Rank]:
    """Shared competition ranks for `items`, a list of (name, mean) already sorted best-first.

    `significant(i, j)` says whether items i and j (indices into `items`) differ significantly.
    The first group is the best item plus every later item not significantly different from it;
    the next group starts at the first item left, and gathers every later remaining item not
    significantly different from that one; and so on. A group's rank is 1 + the number of items
    in earlier groups. Results come back in the order of `items`.
    """
    ranks: dict[int, Rank] = {}
    remaining = list(range(len(items)))
    placed = 0
    while remaining:
        head = remaining[0]
        group = [head] + [j for j in remaining[1:] if not significant(head, j)]
        for i in group:
            ranks[i] = Rank(items[i][0], placed + 1, len(group) > 1)
        placed += len(group)
        remaining = [i for i in remaining if i not in group]
    return [ranks[i] for i in range(len(items))]
