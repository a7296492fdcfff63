"""Coverage of the 95 % intervals for the difference of two methods, by simulation with a known truth.

Each suite draws its evaluation examples afresh (the truth is the population difference), trains each
method with 3 seeds (or runs a deterministic one once) and scores 200 examples: score = method mean +
example difficulty (shared) + method x example interaction + seed effect + per-(seed, example) noise.
Compared: `seed_aware_difference`; the same with the seed term taken as s^2 / k, the per-seed means'
variance as it is (it then counts the per-(seed, example) noise a second time); and the earlier
`paired_bootstrap` (on fewer suites: it resamples). Also the family-wise error of `competition_ranks`
under the global null. Run: `.venv/bin/python benchmarks/coverage.py [--suites 2000]`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from benchhub.stats import competition_ranks, paired_bootstrap, seed_aware_difference

EXAMPLES, SEEDS = 200, 3
DIFFICULTY, INTERACTION, NOISE, SEED = 0.2, 0.1, 0.1, 0.02   # as in tests/core/test_stats.py
MEAN_A, MEAN_B = 0.60, 0.55

# name, seed std of a, of b (None: b is one deterministic run), 0/1 scores
SCENARIOS = [
    ("(a) equal seed std", SEED, SEED, False),
    ("(b) unequal seed std", 1.5 * SEED, 0.5 * SEED, False),
    ("(c) b deterministic (forgetting vs zero-shot)", SEED, None, False),
    ("no seed effect", 0.0, 0.0, False),
    ("seed effect dominates", 3 * SEED, 3 * SEED, False),
    ("b deterministic, seed effect dominates", 3 * SEED, None, False),
    ("0/1 scores (logistic model)", 0.2, 0.2, True),
]
# 0/1 scores: P(correct) = expit(alpha + difficulty + interaction + seed), on the logit scale.
LOGIT_A, LOGIT_B, LOGIT_DIFFICULTY, LOGIT_INTERACTION = 0.5, 0.3, 1.5, 0.7


def simulate(rng, suites: int, seed_sd_a: float, seed_sd_b: float | None, binary: bool):
    """(a, b, truth): suites x seeds x examples scores of both methods and the true mean(a) - mean(b)."""
    if binary:
        return simulate_binary(rng, suites, seed_sd_a, seed_sd_b)
    difficulty = rng.normal(0, DIFFICULTY, (suites, 1, EXAMPLES))

    def method(mean, seed_sd, seeds, noise):
        return (mean + difficulty + rng.normal(0, INTERACTION, (suites, 1, EXAMPLES))
                + rng.normal(0, seed_sd, (suites, seeds, 1)) + rng.normal(0, noise, (suites, seeds, EXAMPLES)))

    a = method(MEAN_A, seed_sd_a, SEEDS, NOISE)
    b = method(MEAN_B, 0.0, 1, 0.0) if seed_sd_b is None else method(MEAN_B, seed_sd_b, SEEDS, NOISE)
    return a, b, MEAN_A - MEAN_B


def simulate_binary(rng, suites: int, seed_sd_a: float, seed_sd_b: float):
    difficulty = rng.normal(0, LOGIT_DIFFICULTY, (suites, 1, EXAMPLES))

    def method(logit, seed_sd):
        p = 1 / (1 + np.exp(-(logit + difficulty + rng.normal(0, LOGIT_INTERACTION, (suites, 1, EXAMPLES))
                              + rng.normal(0, seed_sd, (suites, SEEDS, 1)))))
        return (rng.uniform(size=p.shape) < p).astype(float)

    def population(logit, seed_sd):  # E expit(logit + N(0, sd^2)) by Gauss-Hermite quadrature
        x, w = np.polynomial.hermite_e.hermegauss(101)
        sd = np.sqrt(LOGIT_DIFFICULTY ** 2 + LOGIT_INTERACTION ** 2 + seed_sd ** 2)
        return float(np.sum(w / (1 + np.exp(-(logit + sd * x)))) / np.sqrt(2 * np.pi))

    truth = population(LOGIT_A, seed_sd_a) - population(LOGIT_B, seed_sd_b)
    return method(LOGIT_A, seed_sd_a), method(LOGIT_B, seed_sd_b), truth


def literal_covers(a, b, b_varies: bool, truth: float) -> np.ndarray:
    """Whether each suite's interval covers `truth`, seed term s^2 / k (vectorised over suites)."""
    n = a.shape[2]
    d = a.mean(axis=1) - b.mean(axis=1)
    parts = [(d.var(axis=1, ddof=1) / n, n - 1)]
    for x in [a, b] if b_varies else [a]:
        parts.append((x.mean(axis=2).var(axis=1, ddof=1) / x.shape[1], x.shape[1] - 1))
    variance = sum(v for v, _ in parts)
    df = variance ** 2 / sum(v ** 2 / f for v, f in parts)
    half = stats.t.ppf(0.975, df) * np.sqrt(variance)
    return np.abs(d.mean(axis=1) - truth) <= half


def covers(diff, truth: float) -> bool:
    return diff.low <= truth <= diff.high


def family_wise_error(rng, suites: int, methods: int = 5) -> tuple[float, float]:
    """Share of suites of identical methods (scenario (a)) with any pair significant: Holm, raw."""
    holm_hits = raw_hits = 0
    for _ in range(suites):
        difficulty = rng.normal(0, DIFFICULTY, (1, EXAMPLES))
        tables = [MEAN_A + difficulty + rng.normal(0, INTERACTION, (1, EXAMPLES)) + rng.normal(0, SEED, (SEEDS, 1))
                  + rng.normal(0, NOISE, (SEEDS, EXAMPLES)) for _ in range(methods)]
        p = {(i, j): seed_aware_difference(tables[i], tables[j]).p_value
             for i in range(methods) for j in range(i + 1, methods)}
        ranks = competition_ranks([(str(m), 0.0) for m in range(methods)], lambda i, j: p[i, j])
        holm_hits += any(r.rank > 1 for r in ranks)
        raw_hits += min(p.values()) < 0.05
    return holm_hits / suites, raw_hits / suites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=2000, help="simulated suites per scenario")
    parser.add_argument("--bootstrap-suites", type=int, help="suites for paired_bootstrap (default: suites / 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    boot_suites = args.bootstrap_suites or max(1, args.suites // 4)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()

    print(f"Coverage of 95 % intervals for mean(a) - mean(b): {args.suites} suites per scenario "
          f"(paired_bootstrap: the first {boot_suites}), {SEEDS} seeds, {EXAMPLES} examples.\n")
    print("| scenario | seed_aware_difference | seed term s²/k | paired_bootstrap (old) | time |")
    print("|---|---|---|---|---|")
    for name, seed_sd_a, seed_sd_b, binary in SCENARIOS:
        began = time.perf_counter()
        a, b, truth = simulate(rng, args.suites, seed_sd_a, seed_sd_b, binary)
        b_varies = seed_sd_b is not None
        new = np.mean([covers(seed_aware_difference(x, y, seeds_vary_b=b_varies), truth) for x, y in zip(a, b)])
        literal = literal_covers(a, b, b_varies, truth).mean()
        old = np.mean([covers(paired_bootstrap(x, y), truth) for x, y in zip(a[:boot_suites], b[:boot_suites])])
        print(f"| {name} | {100 * new:.1f} % | {100 * literal:.1f} % | {100 * old:.1f} % "
              f"| {time.perf_counter() - began:.1f} s |", flush=True)

    null_suites = max(1, args.suites // 2)
    began = time.perf_counter()
    holm_rate, raw_rate = family_wise_error(rng, null_suites)
    print(f"\nFamily-wise error under the global null (5 identical methods, scenario (a), {null_suites} suites): "
          f"competition_ranks (Holm) {100 * holm_rate:.1f} %, uncorrected pairwise tests {100 * raw_rate:.1f} % "
          f"({time.perf_counter() - began:.1f} s).")
    print(f"Total {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
