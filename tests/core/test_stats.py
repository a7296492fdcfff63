"""Confidence intervals, the paired bootstrap and shared ranks, against known answers."""
import math

import numpy as np
import pytest
from scipy import stats

from benchhub.stats import Difference, Interval, Rank, paired_bootstrap, rank_groups, t_interval


# --- t_interval -------------------------------------------------------------------------------

def test_t_interval_known_value():
    ci = t_interval([1, 2, 3])
    assert ci.n == 3
    assert ci.mean == pytest.approx(2.0)
    assert ci.half_width == pytest.approx(4.302652729911275 * 1 / math.sqrt(3))
    assert ci.low == pytest.approx(2.0 - ci.half_width)
    assert ci.high == pytest.approx(2.0 + ci.half_width)


def test_t_interval_confidence_level():
    ci = t_interval([1, 2, 3], confidence=0.99)
    assert ci.half_width == pytest.approx(stats.t.ppf(0.995, 2) / math.sqrt(3))


def test_t_interval_single_value_has_no_half_width():
    assert t_interval([0.7]) == Interval(0.7, None, 1)
    assert t_interval([0.7]).low is None and t_interval([0.7]).high is None


def test_t_interval_empty():
    assert t_interval([]) == Interval(None, None, 0)


def test_t_interval_ignores_nan():
    assert t_interval([1, float("nan"), 2, 3, float("inf")]) == t_interval([1, 2, 3])
    assert t_interval([float("nan"), 5.0]) == Interval(5.0, None, 1)


def test_t_interval_rejects_bad_confidence():
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1, 2, 3], confidence=95)


# --- paired_bootstrap -------------------------------------------------------------------------

@pytest.fixture
def shifted():
    """One seed: a ~ N(0.5, 1) on 2000 examples, b all zeros."""
    a = np.random.default_rng(12345).normal(loc=0.5, scale=1.0, size=2000)
    return a, np.zeros_like(a)


def test_bootstrap_matches_normal_theory(shifted):
    a, b = shifted
    d = paired_bootstrap(a, b)
    half = 1.96 * a.std(ddof=1) / math.sqrt(a.size)
    assert d.estimate == pytest.approx(a.mean())
    assert (d.high - d.low) / 2 == pytest.approx(half, rel=0.10)
    assert d.low == pytest.approx(a.mean() - half, abs=0.1 * half)
    assert d.high == pytest.approx(a.mean() + half, abs=0.1 * half)
    assert d.significant
    assert (d.confidence, d.resamples) == (0.95, 2000)


def test_bootstrap_matches_scipy(shifted):
    a, b = shifted
    d = paired_bootstrap(a, b, resamples=4000)
    ref = stats.bootstrap((a - b,), np.mean, method="percentile", confidence_level=0.95,
                          n_resamples=4000, random_state=0).confidence_interval
    tol = 0.15 * 1.96 * a.std(ddof=1) / math.sqrt(a.size)   # Monte Carlo noise between the two
    assert d.low == pytest.approx(ref.low, abs=tol)
    assert d.high == pytest.approx(ref.high, abs=tol)


def test_bootstrap_is_deterministic(shifted):
    a, b = shifted
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    assert paired_bootstrap(a, b, seed=3) != paired_bootstrap(a, b, seed=4)


def test_bootstrap_finds_planted_difference():
    rng = np.random.default_rng(7)
    b = rng.uniform(size=(3, 200)).tolist()
    a = (np.asarray(b) + 0.3 + rng.normal(scale=0.05, size=(3, 200))).tolist()
    d = paired_bootstrap(a, b)
    assert d.significant
    assert d.estimate == pytest.approx(0.3, abs=0.02)
    assert d.low < 0.3 < d.high
    assert paired_bootstrap(b, a).high < 0   # the reverse comparison is significantly negative


def test_bootstrap_identical_scores():
    one_seed = np.random.default_rng(1).uniform(size=200)
    d = paired_bootstrap(one_seed, one_seed)
    assert (d.estimate, d.low, d.high) == (0, 0, 0)   # paired example resampling cancels exactly
    assert not d.significant
    seeds = np.random.default_rng(1).uniform(size=(3, 200))
    d = paired_bootstrap(seeds, seeds)                  # seeds of a and b are resampled independently
    assert d.estimate == 0
    assert d.low < 0 < d.high
    assert not d.significant


def test_bootstrap_same_distribution_not_significant():
    rng = np.random.default_rng(2024)
    a, b = rng.normal(size=(3, 200)), rng.normal(size=(3, 200))
    d = paired_bootstrap(a, b)
    assert d.low < 0 < d.high
    assert not d.significant


def test_bootstrap_different_seed_counts():
    rng = np.random.default_rng(5)
    b = rng.uniform(size=200)
    a = b + 0.2 + rng.normal(scale=0.05, size=(4, 200))
    d = paired_bootstrap(a, b)
    assert d.estimate == pytest.approx(a.mean() - b.mean())
    assert d.significant and d.low < 0.2 < d.high


def test_bootstrap_seed_variance_widens_interval():
    rng = np.random.default_rng(11)
    b = rng.uniform(size=(3, 200))
    steady = b + 0.1 + rng.normal(scale=0.05, size=(3, 200))
    shaky = steady + np.array([[-0.5], [0.0], [0.5]])          # same mean, very different seeds
    calm, wild = paired_bootstrap(steady, b), paired_bootstrap(shaky, b)
    assert wild.estimate == pytest.approx(calm.estimate)
    assert wild.high - wild.low > 3 * (calm.high - calm.low)
    assert calm.significant and not wild.significant


@pytest.mark.parametrize("a,b,match", [
    (np.zeros((3, 200)), np.zeros((3, 199)), "same examples"),
    (np.zeros(10), np.zeros((2, 11)), "same examples"),
    ([], [], "no examples"),
    (np.zeros((2, 0)), np.zeros((3, 0)), "no examples"),
    (np.zeros((2, 2, 2)), np.zeros((2, 2)), "2-D"),
    ([1.0, float("nan")], [1.0, 2.0], "NaN"),
])
def test_bootstrap_rejects_bad_shapes(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(a, b)


def test_difference_significance():
    assert Difference(0.1, 0.01, 0.2, 0.95, 10).significant
    assert Difference(-0.1, -0.2, -0.01, 0.95, 10).significant
    assert not Difference(0.1, -0.01, 0.2, 0.95, 10).significant


# --- rank_groups ------------------------------------------------------------------------------

def _from_pairs(pairs):
    """significant(i, j) from a set of significantly different index pairs."""
    return lambda i, j: (i, j) in pairs or (j, i) in pairs


def test_rank_groups_two_tied_clusters():
    items = [("a", 0.9), ("b", 0.88), ("c", 0.8), ("d", 0.79)]
    # 0~1 tied; 2 and 3 significantly worse than 0; 2~3 tied; 1 vs 2 does not matter.
    ranks = rank_groups(items, _from_pairs({(0, 2), (0, 3)}))
    assert [r.name for r in ranks] == ["a", "b", "c", "d"]
    assert [r.rank for r in ranks] == [1, 1, 3, 3]
    assert [r.tied for r in ranks] == [True, True, True, True]


def test_rank_groups_clear_winner():
    items = [("best", 0.9), ("x", 0.7), ("y", 0.69), ("z", 0.3)]
    sig = _from_pairs({(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)})
    assert rank_groups(items, sig) == [
        Rank("best", 1, False), Rank("x", 2, True), Rank("y", 2, True), Rank("z", 4, False),
    ]


def test_rank_groups_all_tied_and_all_different():
    items = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    assert [(r.rank, r.tied) for r in rank_groups(items, lambda i, j: False)] == [(1, True)] * 3
    assert [(r.rank, r.tied) for r in rank_groups(items, lambda i, j: True)] == [(1, False), (2, False), (3, False)]


def test_rank_groups_group_starts_at_first_item_left():
    # 0~1 but 0 vs 2 differ, and 1~2: item 2 is not pulled into the first group.
    items = [("a", 3.0), ("b", 2.5), ("c", 2.0)]
    ranks = rank_groups(items, _from_pairs({(0, 2)}))
    assert [(r.rank, r.tied) for r in ranks] == [(1, True), (1, True), (3, False)]


def test_rank_groups_empty():
    assert rank_groups([], lambda i, j: True) == []
