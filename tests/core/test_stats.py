"""Confidence intervals, paired comparisons and shared ranks, against known answers and, for the
seed-aware intervals and the Holm-corrected ranks, by simulation with a known truth."""
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from benchhub.stats import (
    Difference, Interval, Rank, competition_ranks, holm, mean_interval, paired_bootstrap,
    seed_aware_difference, t_interval,
)


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


def test_difference_resamples_default_to_none_drawn():
    assert Difference(0.1, 0.0, 0.2, 0.95).resamples == 0


# --- seed_aware_difference: known answers -----------------------------------------------------

def test_difference_one_run_each_is_the_paired_t_test(shifted):
    a, b = shifted
    b = b + np.random.default_rng(3).normal(size=b.size)
    d = seed_aware_difference(a, b, seeds_vary_a=False, seeds_vary_b=False)
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert d.estimate == pytest.approx(a.mean() - b.mean())
    assert d.se == pytest.approx((a - b).std(ddof=1) / math.sqrt(a.size))
    assert d.df == pytest.approx(a.size - 1)
    assert d.p_value == pytest.approx(ref.pvalue)
    assert (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.resamples == 0 and d.confidence == 0.95


def test_difference_example_term_is_the_bootstrap_variance(shifted):
    # What the paired example bootstrap estimates by resampling, in closed form.
    a, b = shifted
    d = seed_aware_difference(a, b, seeds_vary_a=False, seeds_vary_b=False)
    boot = paired_bootstrap(a, b, resamples=4000)
    assert (boot.high - boot.low) / 2 == pytest.approx(1.96 * d.se, rel=0.1)


def test_difference_seed_term_alone_is_the_t_test_over_seeds():
    # Seeds shift a whole row and nothing else varies: only the seed term is left, with k - 1 df.
    base = np.random.default_rng(8).uniform(size=50)
    shift = np.array([0.31, 0.12, 0.24, 0.18])
    a = base + shift[:, np.newaxis]
    d = seed_aware_difference(a, base, seeds_vary_b=False)
    ref = stats.ttest_1samp(shift, 0)
    assert d.estimate == pytest.approx(shift.mean())
    assert d.se == pytest.approx(shift.std(ddof=1) / 2)
    assert d.df == pytest.approx(3)
    assert d.p_value == pytest.approx(ref.pvalue)


def test_difference_variance_decomposition():
    # A hand-built table, each term computed the plain way.
    rng = np.random.default_rng(21)
    a, b = rng.normal(size=(3, 40)), rng.normal(size=(2, 40)) + rng.normal(scale=0.5, size=(2, 1))
    n = 40
    example = (a.mean(0) - b.mean(0)).var(ddof=1) / n

    def seed_terms(x):
        k = x.shape[0]
        residual = x - x.mean(1, keepdims=True) - x.mean(0) + x.mean()
        noise = (residual ** 2).sum() / ((k - 1) * (n - 1))
        s2 = x.mean(1).var(ddof=1)
        return ([(s2 / k, k - 1), (-noise / (n * k), (k - 1) * (n - 1))] if s2 > noise / n else [])

    parts = [(example, n - 1)] + seed_terms(a) + seed_terms(b)
    variance = sum(v for v, _ in parts)
    df = variance ** 2 / sum(v ** 2 / f for v, f in parts)
    d = seed_aware_difference(a, b)
    assert d.se == pytest.approx(math.sqrt(variance))
    assert d.df == pytest.approx(df)
    half = stats.t.ppf(0.975, df) * math.sqrt(variance)
    assert (d.low, d.high) == (pytest.approx(d.estimate - half), pytest.approx(d.estimate + half))
    assert d.p_value == pytest.approx(2 * stats.t.sf(abs(d.estimate) / math.sqrt(variance), df))
    wide = seed_aware_difference(a, b, confidence=0.99)
    assert wide.high - wide.low > d.high - d.low and wide.confidence == 0.99


def test_difference_noise_counted_once():
    # No seed effect, only per-(seed, example) noise: the true variance of the estimate is
    # 2 * noise / (k n). The example term already holds it; the per-seed means repeat it, and counting
    # it there again would double the variance. With the residual taken out, only the flooring at 0
    # is left (E max(chi2_2 / 2 - 1, 0) = 1/e per side, so about 1 + 1/e on average).
    rng = np.random.default_rng(4)
    tables = rng.normal(size=(400, 2, 3, 100))
    ratio = np.mean([seed_aware_difference(a, b).se ** 2 for a, b in tables]) / (2 / 300)
    assert 1.2 < ratio < 1.55


def test_difference_seed_variation_widens_interval():
    rng = np.random.default_rng(11)
    examples = rng.uniform(size=200)
    b = examples + rng.normal(scale=0.05, size=(3, 200))
    steady = examples + 0.1 + rng.normal(scale=0.05, size=(3, 200))
    shaky = steady + np.array([[-0.1], [0.0], [0.1]])          # same mean, seeds far apart
    calm, wild = seed_aware_difference(steady, b), seed_aware_difference(shaky, b)
    assert wild.estimate == pytest.approx(calm.estimate)
    assert calm.significant and calm.p_value < 1e-6
    assert not wild.significant and wild.p_value > 0.05
    assert wild.df < 3


def test_difference_sign_and_symmetry():
    rng = np.random.default_rng(12)
    a, b = rng.normal(0.3, 1, size=(3, 200)), rng.normal(0, 1, size=(4, 200))
    ab, ba = seed_aware_difference(a, b), seed_aware_difference(b, a)
    assert ab.estimate == pytest.approx(-ba.estimate)
    assert (ab.low, ab.high) == (pytest.approx(-ba.high), pytest.approx(-ba.low))
    assert ab.p_value == pytest.approx(ba.p_value)


# --- seed_aware_difference: edge cases --------------------------------------------------------

def test_difference_one_seed_that_varies_cannot_be_estimated():
    x = np.random.default_rng(2).uniform(size=200)
    assert seed_aware_difference(x, x) is None                        # seeds vary on both sides
    assert seed_aware_difference(np.vstack([x, x + 0.1]), x) is None  # b: one seed that varies
    assert seed_aware_difference(np.vstack([x, x + 0.1]), x, seeds_vary_b=False) is not None


def test_difference_too_few_examples():
    assert seed_aware_difference([], [], seeds_vary_a=False, seeds_vary_b=False) is None
    assert seed_aware_difference(np.zeros((3, 0)), np.zeros((3, 0))) is None
    assert seed_aware_difference(np.ones((3, 1)), np.zeros((3, 1))) is None


def test_difference_zero_variance():
    x = np.random.default_rng(3).uniform(size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = seed_aware_difference(x, x, seeds_vary_a=False, seeds_vary_b=False)
        flat = seed_aware_difference(np.full((3, 50), 0.7), np.full((2, 50), 0.5))
        tiny = seed_aware_difference(x + 0.1, x, seeds_vary_a=False, seeds_vary_b=False)
    assert (same.estimate, same.low, same.high, same.se, same.df, same.p_value) == (0, 0, 0, 0, None, 1)
    assert not same.significant
    assert flat.estimate == pytest.approx(0.2) and flat.low == flat.high == flat.estimate
    assert flat.p_value == 0 and flat.significant
    assert tiny.significant and tiny.p_value < 1e-12     # rounding noise, not a real spread


def test_difference_identical_seeded_tables_are_not_significant():
    # The same table on both sides: each mean is still uncertain over seeds, so the interval is not 0.
    x = np.random.default_rng(1).uniform(size=(3, 200)) + np.array([[0.0], [0.05], [-0.05]])
    d = seed_aware_difference(x, x)
    assert d.estimate == 0 and d.low < 0 < d.high and d.p_value == 1


@pytest.mark.parametrize("a,b,match", [
    (np.zeros((3, 200)), np.zeros((3, 199)), "same examples"),
    (np.zeros(10), np.zeros((2, 11)), "same examples"),
    (np.zeros((2, 2, 2)), np.zeros((2, 2)), "2-D"),
    ([1.0, float("nan")], [1.0, 2.0], "NaN"),
    (np.zeros((0, 5)), np.zeros((2, 5)), "no seeds"),
])
def test_difference_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        seed_aware_difference(a, b)


def test_difference_rejects_bad_confidence():
    with pytest.raises(ValueError, match="confidence"):
        seed_aware_difference(np.zeros((3, 5)), np.zeros((3, 5)), confidence=1.0)


# --- mean_interval ----------------------------------------------------------------------------

def test_mean_interval_one_run_is_the_t_interval_over_examples():
    x = np.random.default_rng(6).normal(size=100)
    ci, ref = mean_interval(x, seeds_vary=False), t_interval(x)
    assert ci.mean == pytest.approx(ref.mean) and ci.half_width == pytest.approx(ref.half_width)
    assert ci.n == 1


def test_mean_interval_seed_term_alone_is_the_t_interval_over_seeds():
    shift = np.array([0.6, 0.65, 0.58])
    ci = mean_interval(np.ones((3, 40)) * shift[:, np.newaxis])
    ref = t_interval(shift)
    assert ci.mean == pytest.approx(ref.mean) and ci.half_width == pytest.approx(ref.half_width)
    assert ci.n == 3


def test_mean_interval_edges():
    x = np.random.default_rng(6).uniform(size=(1, 30))
    assert mean_interval(x).half_width is None and mean_interval(x).mean == pytest.approx(x.mean())
    assert mean_interval(x, seeds_vary=False).half_width is not None
    assert mean_interval(np.zeros((3, 0))) == Interval(None, None, 3)
    flat = mean_interval(np.full((3, 20), 0.4))
    assert (flat.mean, flat.half_width, flat.n) == (pytest.approx(0.4), 0.0, 3)
    with pytest.raises(ValueError, match="NaN"):
        mean_interval([0.1, float("nan")])


# --- calibration by simulation ----------------------------------------------------------------
# Each suite draws its evaluation examples afresh, so the truth is the population difference (or
# mean). A score = method mean + example difficulty (shared by the methods) + method x example
# interaction + seed effect (per method and seed) + per-(seed, example) noise. SEED puts the seed
# effect on the same footing as the example sample: for one method it adds about half as much to
# the variance of the score as the examples do.

SUITES, EXAMPLES = 2000, 200
DIFFICULTY, INTERACTION, NOISE, SEED = 0.2, 0.1, 0.1, 0.02
MEAN_A, MEAN_B = 0.60, 0.55


def _suites(seed: int, seed_sd_a: float, seed_sd_b: float | None, suites: int = SUITES):
    """Per-example scores (suites x seeds x examples) of a (3 seeds) and b (3 seeds, or one
    deterministic run without seed effect or noise when seed_sd_b is None)."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, DIFFICULTY, (suites, 1, EXAMPLES))

    def method(mean, seed_sd, seeds, noise):
        return (mean + difficulty + rng.normal(0, INTERACTION, (suites, 1, EXAMPLES))
                + rng.normal(0, seed_sd, (suites, seeds, 1)) + rng.normal(0, noise, (suites, seeds, EXAMPLES)))

    a = method(MEAN_A, seed_sd_a, 3, NOISE)
    b = method(MEAN_B, 0.0, 1, 0.0) if seed_sd_b is None else method(MEAN_B, seed_sd_b, 3, NOISE)
    return a, b


def _covers(intervals, truth) -> float:
    return float(np.mean([d.low <= truth <= d.high for d in intervals]))


@pytest.mark.parametrize("seed_sd_a,seed_sd_b", [
    (SEED, SEED),        # (a) equal seed variation
    (1.5 * SEED, 0.5 * SEED),   # (b) unequal
    (SEED, None),        # (c) b deterministic: forgetting against the zero-shot baseline
], ids=["equal", "unequal", "deterministic-b"])
def test_difference_coverage(seed_sd_a, seed_sd_b):
    a, b = _suites(100, seed_sd_a, seed_sd_b)
    diffs = [seed_aware_difference(x, y, seeds_vary_b=seed_sd_b is not None) for x, y in zip(a, b)]
    assert 0.93 <= _covers(diffs, MEAN_A - MEAN_B) <= 0.97


def test_old_bootstrap_under_covers():
    # Why seed_aware_difference replaces it: resampling three seeds gives too little seed variance
    # (2/3 of it, and no t tails), the more so the more the seeds matter.
    truth = MEAN_A - MEAN_B
    a, b = _suites(101, SEED, SEED, suites=500)
    old = _covers([paired_bootstrap(x, y, resamples=500) for x, y in zip(a, b)], truth)
    new = _covers([seed_aware_difference(x, y) for x, y in zip(a, b)], truth)
    assert old < 0.94 and old < new - 0.02 and 0.93 <= new <= 0.97
    a, b = _suites(102, 3 * SEED, 3 * SEED, suites=300)
    assert _covers([paired_bootstrap(x, y, resamples=500) for x, y in zip(a, b)], truth) < 0.9


@pytest.mark.slow
@pytest.mark.parametrize("seed_sd_a,seed_sd_b", [(SEED, SEED), (1.5 * SEED, 0.5 * SEED), (SEED, None),
                                                 (0.0, 0.0), (3 * SEED, 3 * SEED)])
def test_difference_coverage_many_suites(seed_sd_a, seed_sd_b):
    a, b = _suites(200, seed_sd_a, seed_sd_b, suites=10_000)
    diffs = [seed_aware_difference(x, y, seeds_vary_b=seed_sd_b is not None) for x, y in zip(a, b)]
    assert 0.935 <= _covers(diffs, MEAN_A - MEAN_B) <= 0.97


@pytest.mark.parametrize("seeds_vary", [True, False])
def test_mean_interval_coverage(seeds_vary):
    a, b = _suites(103, SEED if seeds_vary else 0.0, None)
    scores = a if seeds_vary else b
    truth = MEAN_A if seeds_vary else MEAN_B
    assert 0.93 <= _covers([mean_interval(x, seeds_vary=seeds_vary) for x in scores], truth) <= 0.97


# --- holm and competition_ranks ---------------------------------------------------------------

def test_holm_hand_computed():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone: 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.2]) == [0.2]
    assert holm([]) == []
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, float("nan")])


def _p_table(p):
    """p_value(i, j) from {(i, j): p}, 1.0 for pairs not listed."""
    return lambda i, j: p.get((i, j), 1.0)


def test_competition_ranks_abc():
    # A~B, A~C not significant, B beats C: only B is significantly better than C.
    items = [("A", 0.9), ("B", 0.85), ("C", 0.7)]
    ranks = competition_ranks(items, _p_table({(0, 1): 0.5, (0, 2): 0.2, (1, 2): 0.001}))
    assert ranks == [Rank("A", 1, True, 1, 3), Rank("B", 1, True, 1, 2), Rank("C", 2, True, 2, 3)]


def test_competition_ranks_clear_winner():
    items = [("best", 0.9), ("x", 0.7), ("y", 0.69), ("z", 0.68)]
    ranks = competition_ranks(items, _p_table({(0, 1): 1e-4, (0, 2): 1e-4, (0, 3): 1e-4}))
    assert ranks[0] == Rank("best", 1, False, 1, 1)
    assert [(r.rank, r.worst, r.tied) for r in ranks[1:]] == [(2, 4, True)] * 3


def test_competition_ranks_all_different_and_empty():
    items = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    assert [(r.rank, r.worst, r.tied) for r in competition_ranks(items, lambda i, j: 0.0)] == [
        (1, 1, False), (2, 2, False), (3, 3, False)]
    assert competition_ranks([], lambda i, j: 0.0) == []
    assert competition_ranks([("only", 1.0)], lambda i, j: 0.0) == [Rank("only", 1, False, 1, 1)]


def test_competition_ranks_holm_not_raw():
    # Raw p = 0.03 on each of 3 pairs: significant alone, not after Holm (0.09).
    items = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    assert all(r.rank == 1 for r in competition_ranks(items, lambda i, j: 0.03))
    assert competition_ranks(items, lambda i, j: 0.03, alpha=0.1)[2].rank == 3


def test_competition_ranks_untestable_pairs():
    items = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    never = competition_ranks(items, lambda i, j: None)
    assert [(r.rank, r.worst, r.tied) for r in never] == [(1, 3, True)] * 3
    # None is left out of the correction: two tests, 0.02 * 2 = 0.04 < 0.05 (with three: 0.06).
    ranks = competition_ranks(items, _p_table({(0, 1): None, (0, 2): 0.02, (1, 2): 0.5}))
    assert [(r.rank, r.worst) for r in ranks] == [(1, 2), (1, 3), (2, 3)]


def test_competition_ranks_order_decides_the_winner():
    # Lower-is-better metrics come sorted ascending: the earlier item still wins.
    ranks = competition_ranks([("low", 0.1), ("high", 0.5)], lambda i, j: 0.001)
    assert [(r.name, r.rank) for r in ranks] == [("low", 1), ("high", 2)]


def _methods(seed: int, means, suites: int = 1):
    """suites x methods x seeds x examples: len(means) methods, 3 seeds each, the simulation above."""
    rng = np.random.default_rng(seed)
    means = np.asarray(means)[np.newaxis, :, np.newaxis, np.newaxis]
    shape = (suites, means.shape[1])
    return (means + rng.normal(0, DIFFICULTY, (suites, 1, 1, EXAMPLES))
            + rng.normal(0, INTERACTION, (*shape, 1, EXAMPLES)) + rng.normal(0, SEED, (*shape, 3, 1))
            + rng.normal(0, NOISE, (*shape, 3, EXAMPLES)))


def _ranks(tables) -> list[Rank]:
    order = sorted(range(len(tables)), key=lambda m: -tables[m].mean())
    items = [(f"m{m}", tables[m].mean()) for m in order]
    return competition_ranks(items, lambda i, j: seed_aware_difference(tables[order[i]], tables[order[j]]).p_value)


def test_competition_ranks_planted_gaps():
    ranks = _ranks(_methods(30, [0.8, 0.8, 0.6, 0.6, 0.4])[0])
    assert [(r.rank, r.worst, r.tied) for r in ranks] == [(1, 2, True)] * 2 + [(3, 4, True)] * 2 + [(5, 5, False)]
    assert {r.name for r in ranks[:2]} == {"m0", "m1"} and ranks[4].name == "m4"


def test_competition_ranks_planted_ties():
    ranks = _ranks(_methods(31, [0.7] * 4)[0])
    assert [(r.rank, r.worst, r.tied) for r in ranks] == [(1, 4, True)] * 4


def _family_wise_error(seed: int, suites: int) -> tuple[float, float]:
    """Share of suites of five identical methods with any pair significant: Holm-corrected, raw."""
    holm_hits = raw_hits = 0
    for tables in _methods(seed, [0.6] * 5, suites=suites):
        p = {(i, j): seed_aware_difference(tables[i], tables[j]).p_value for i in range(5) for j in range(i + 1, 5)}
        ranks = competition_ranks([(f"m{m}", 0.0) for m in range(5)], lambda i, j: p[i, j])
        holm_hits += any(r.rank > 1 for r in ranks)
        raw_hits += min(p.values()) < 0.05
    return holm_hits / suites, raw_hits / suites


def test_competition_ranks_family_wise_error_under_global_null():
    # Any significant pair among identical methods is a false discovery. Holm keeps it near 5 %;
    # the raw tests would not. Not strictly under 5 %: the Welch tails are somewhat heavy where a
    # seed variance rests on 2 df (3 seeds), and Holm's first step tests at 0.05 / 10 (about 6 %
    # measured over 12 000 suites; the 1 500 here land near 5 %).
    holm_rate, raw_rate = _family_wise_error(32, 1500)
    assert holm_rate <= 0.075
    assert raw_rate > 0.2


@pytest.mark.slow
def test_competition_ranks_family_wise_error_many_suites():
    holm_rate, raw_rate = _family_wise_error(33, 8000)
    assert holm_rate <= 0.075 and raw_rate > 0.2
