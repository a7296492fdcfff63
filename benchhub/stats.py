"""Confidence intervals, paired comparisons and shared ranks for result tables.

* `t_interval` - mean and Student-t half-width of a handful of runs (e.g. one metric over seeds);
* `mean_interval` - one method's score on a split, counting examples and seed-to-seed variation;
* `seed_aware_difference` - A minus B on the same examples, counting both (Welch t interval, p-value);
* `holm`, `competition_ranks` - ranks from all pairwise tests, Holm-corrected, with the range of
  ranks consistent with them.

`paired_bootstrap` is the earlier interval, kept to show by simulation why it was replaced
(benchmarks/coverage.py): resampling three seeds understates the seed variance (intervals too narrow).
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
    """mean(a) - mean(b) with a confidence interval: a percentile bootstrap one (`resamples` > 0) or a
    Student-t one with its standard error, Welch degrees of freedom and two-sided p-value (`resamples` 0;
    `df` None when the variance is zero)."""

    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int = 0
    se: float | None = None
    df: float | None = None
    p_value: float | None = None

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Rank:
    """One item's competition rank; `tied` when it shares its place with another item. `best`..`worst` is
    the range of ranks consistent with the tests (`competition_ranks`); `best` is `rank`."""

    name: str
    rank: int
    tied: bool
    best: int
    worst: int


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


def _seed_variance(x: np.ndarray) -> list[tuple[float, float]]:
    """The seed term of the variance of mean(x), x seeds x examples (at least 2 of each), as weighted
    mean squares [(weight * mean square, its df)]; their sum is the term, [] when it is floored at 0.

    The per-seed means vary by s^2 = seed variance + noise / n, where noise is the per-(seed, example)
    variance. The example term already counts that noise (it is in every seed-averaged column), so it is
    taken out here: the residual mean square of x, seed and example means removed (two-way ANOVA),
    estimates it. Counting it twice would widen the interval by up to sqrt(2) where that noise dominates,
    as with 0/1 scores, and over-cover. The term, (s^2 - residual / n) / k, is floored at 0.
    """
    k, n = x.shape
    seed_means = x.mean(axis=1)
    s2 = float(seed_means.var(ddof=1))
    residual = x - seed_means[:, np.newaxis] - x.mean(axis=0) + x.mean()
    noise = float(np.sum(residual * residual)) / ((k - 1) * (n - 1))
    if s2 - noise / n <= 0:
        return []
    return [(s2 / k, k - 1), (-noise / (n * k), (k - 1) * (n - 1))]


def _welch(columns: np.ndarray, seeded: list[np.ndarray]) -> tuple[float, float | None]:
    """Variance of the mean of `columns` (one value per example) plus the seed terms of the tables in
    `seeded`, and its Welch-Satterthwaite degrees of freedom (None when the variance is zero)."""
    n = columns.size
    # The example bootstrap's variance in closed form (up to (n - 1) / n): no Monte Carlo noise.
    parts = [(float(columns.var(ddof=1)) / n, n - 1)]
    for x in seeded:
        parts += _seed_variance(x)
    variance = sum(v for v, _ in parts)
    if variance <= 0:
        return 0.0, None
    # df = V^2 / sum(v^2 / df), written with ratios so tiny variances cannot underflow to 0 / 0.
    return variance, 1 / sum((v / variance) ** 2 / df for v, df in parts)


def _sides(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as score tables (see `_as_scores`), checked to score the same number of examples."""
    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must score the same examples: a has {a.shape[1]}, b has {b.shape[1]}")
    return a, b


def seed_aware_difference(a, b, *, seeds_vary_a: bool = True, seeds_vary_b: bool = True,
                          confidence: float = 0.95) -> Difference | None:
    """mean(a) - mean(b) on the same evaluation examples, with a Student-t interval and two-sided
    p-value that count both the sample of examples and each side's seed-to-seed variation.

    `a` and `b` are per-example scores, seeds x examples (a 1-D sequence is one seed); their seed
    counts may differ, their columns are the same examples. The estimate is the mean over seeds of the
    mean over examples. Its variance is

        Var_i(d_i) / n  +  sigma_a^2 / k_a  +  sigma_b^2 / k_b

    with d_i = a's seed-averaged score on example i minus b's (sample variance: the variance of the
    paired example bootstrap, in closed form, so no Monte Carlo noise can flip a significance mark) and
    sigma^2 a side's seed variance: that of its per-seed means, less the per-(seed, example) noise the
    first term already counts (see `_seed_variance`). A side with `seeds_vary_x=False` (a method that
    trains nothing is deterministic: one run, no seed variance) has no seed term. Degrees of freedom by
    Welch-Satterthwaite over the terms (n - 1 for the example term, k - 1 for a seed term). 95 %
    intervals cover the true difference in 93-96 % of simulated suites (benchmarks/coverage.py); with
    3 seeds a seed variance rests on 2 df, and where one side's seed term dominates a near-known
    remainder the tails run a little light (down to 92 %, and small p-values somewhat too small).

    None when a side whose seeds vary has fewer than 2 seeds, or there are fewer than 2 examples: the
    variance cannot be estimated. With zero variance the interval is the estimate itself, p is 1 for a
    zero estimate and 0 otherwise, and df is None.
    """
    from scipy import stats

    _check_confidence(confidence)
    a, b = _sides(a, b)
    n = a.shape[1]
    if n < 2 or (seeds_vary_a and a.shape[0] < 2) or (seeds_vary_b and b.shape[0] < 2):
        return None
    estimate = float(a.mean() - b.mean())
    seeded = [x for x, vary in ((a, seeds_vary_a), (b, seeds_vary_b)) if vary]
    variance, df = _welch(a.mean(axis=0) - b.mean(axis=0), seeded)
    if df is None:
        return Difference(estimate, estimate, estimate, confidence, se=0.0, p_value=float(estimate == 0))
    se = math.sqrt(variance)
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    p_value = float(2 * stats.t.sf(abs(estimate) / se, df))
    return Difference(estimate, estimate - half, estimate + half, confidence, se=se, df=df, p_value=p_value)


def mean_interval(a, *, seeds_vary: bool = True, confidence: float = 0.95) -> Interval:
    """One method's score on a split, seeds x examples (1-D: one seed): the mean over seeds of the mean
    over examples, with a Student-t half-width from the variance decomposition of `seed_aware_difference`
    (Var_i(seed-averaged a[:, i]) / n + sigma^2 / k, Welch-Satterthwaite df). `n` is the seed count.

    half_width is None when seeds vary and there are fewer than 2 seeds, or there are fewer than 2
    examples; mean is None too without examples.
    """
    from scipy import stats

    _check_confidence(confidence)
    a = _as_scores(a, "a")
    k, n = a.shape
    if n == 0:
        return Interval(None, None, k)
    mean = float(a.mean())
    if n < 2 or (seeds_vary and k < 2):
        return Interval(mean, None, k)
    variance, df = _welch(a.mean(axis=0), [a] if seeds_vary else [])
    if df is None:
        return Interval(mean, 0.0, k)
    return Interval(mean, float(stats.t.ppf((1 + confidence) / 2, df)) * math.sqrt(variance), k)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the order given.

    With the p-values sorted ascending, p_(j) (j = 1..m) becomes max over i <= j of (m - i + 1) p_(i),
    capped at 1: rejecting where the adjusted value is below alpha keeps the family-wise error rate at
    alpha, whatever the dependence between the tests.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError("p-values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted.tolist()


def competition_ranks(items: Sequence[tuple[str, float]], p_value: Callable[[int, int], float | None], *,
                      alpha: float = 0.05) -> list[Rank]:
    """Ranks from all pairwise tests: rank = 1 + the number of items significantly better.

    `items` is a list of (name, mean) sorted best-first (in the metric's own direction, so the earlier
    item of a pair is the better one). `p_value(i, j)`, i < j indices into `items`, is the two-sided
    p-value of their difference, or None when they cannot be tested (never significant, and left out of
    the correction). All K(K - 1)/2 pairs are tested together with Holm's correction (`holm`), which
    keeps the chance of any false "significant" at `alpha`; a pair is significant when its adjusted
    p-value is below `alpha`. Each item gets rank = best = 1 + the number of items significantly better,
    worst = K - the number significantly worse (best..worst: the ranks consistent with the tests), and
    tied = worst > best (some other item is not significantly different). Results come back in the
    order of `items`.

    Footer wording: rank = 1 + the number of methods significantly better, Holm-corrected pairwise Welch
    tests at 5 %; range: best to worst rank consistent with the tests.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
    count = len(items)
    tested = [(i, j, p) for i in range(count) for j in range(i + 1, count) if (p := p_value(i, j)) is not None]
    better, worse = [0] * count, [0] * count
    for (i, j, _), adjusted in zip(tested, holm([p for _, _, p in tested])):
        if adjusted < alpha:
            worse[i] += 1
            better[j] += 1
    ranks = []
    for i, (name, _) in enumerate(items):
        best, worst = 1 + better[i], count - worse[i]
        ranks.append(Rank(name, best, worst > best, best, worst))
    return ranks
