"""Adaptive seeds (`benchhub.seeding`) against fixed seed counts, by simulation with a known truth.

Each simulated suite ranks 5 training methods on 200 evaluation examples drawn afresh, scores as in
benchmarks/coverage.py: method mean + example difficulty (shared) + method x example interaction + seed effect +
per-(seed, example) noise. Two truths: the global null (all five equal) and a spread (0.60, 0.60, 0.57, 0.55, 0.55,
so two pairs are equal). For each procedure it prints how often some pair of truly equal methods is ranked apart
in their pairwise Holm-corrected tests (the family-wise error the ranks promise to keep at 5 %), how many truly
different pairs are separated (power), and the runs it used. `auto` is `seeding.decide` itself (looks 3 -> 5 -> 8, tests at 5 % / 3); `auto, uncorrected`
is the same stopping rule tested at 5 % at every look, to show what optional stopping costs.
Run: `.venv/bin/python benchmarks/adaptive.py [--suites 400]`.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np

from benchhub import seeding
from benchhub.paired import CONFIDENCE, rank_p_value
from benchhub.stats import holm

EXAMPLES = 200
DIFFICULTY, INTERACTION, NOISE, SEED = 0.2, 0.1, 0.1, 0.02  # as in benchmarks/coverage.py
TRUTHS = {"global null": (0.58,) * 5, "close": (0.60, 0.60, 0.57, 0.55, 0.55),
          "mixed": (0.70, 0.60, 0.60, 0.50, 0.40), "well apart": (0.70, 0.62, 0.55, 0.48, 0.40)}


class _Ok:
    ranked = True


@dataclass
class Fake:
    """What the ranks read of a record: status, the mean score and per-example scores."""

    scores: np.ndarray
    status: type = _Ok
    metrics: dict = field(default_factory=dict)
    per_example: dict = field(default_factory=dict)

    def __post_init__(self):
        self.metrics = {"score": float(self.scores.mean())}
        self.per_example = {"eval": {"ids": list(range(EXAMPLES)), "score": self.scores.tolist()}}


def suite(rng, means, seeds: int) -> dict[str, list]:
    """method -> `seeds` records (seed order) of one simulated suite."""
    difficulty = rng.normal(0, DIFFICULTY, EXAMPLES)
    out = {}
    for i, mean in enumerate(means):
        interaction = rng.normal(0, INTERACTION, EXAMPLES)
        out[f"m{i}"] = [Fake(mean + difficulty + interaction + rng.normal(0, SEED) + rng.normal(0, NOISE, EXAMPLES))
                        for _ in range(seeds)]
    return out


def outcome(records: dict, counts: dict, alpha: float, means) -> tuple[bool, int, int]:
    """(some equal pair declared different, truly different pairs declared different, runs) with `counts` seeds
    per method: the pairwise decisions the ranks are made of (Holm over every pair at `alpha`)."""
    names = list(records)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    p = [rank_p_value(records[a][:counts[a]], records[b][:counts[b]], "score", (True, True)) for a, b in pairs]
    truth = dict(zip(records, means))
    false = separated = 0
    for (a, b), adjusted in zip(pairs, holm([1.0 if v is None else v for v in p])):
        if adjusted < alpha:
            false += truth[a] == truth[b]
            separated += truth[a] != truth[b]
    return false > 0, separated, sum(counts.values())


def auto(records: dict, config: seeding.Auto, alpha: float | None = None) -> dict:
    """Seeds per method under the adaptive rule (its own alpha, or another one for the uncorrected variant)."""
    rule = config if alpha is None else _Level(config.low, config.high, alpha)
    need, _ = seeding.decide({m: (recs, True) for m, recs in records.items()}, "score", True, rule)
    return need


@dataclass(frozen=True)
class _Level(seeding.Auto):
    level: float = 0.05

    @property
    def alpha(self) -> float:
        return self.level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=400)
    args = parser.parse_args()
    config = seeding.Auto(3, 8)
    rng = np.random.default_rng(20261203)
    start = time.perf_counter()
    print(f"{args.suites} simulated suites per truth, 5 methods, {EXAMPLES} examples; seed sd {SEED}, "
          f"adaptive looks {config.looks}, tests at {100 * config.alpha:.2f} % per look")
    for name, means in TRUTHS.items():
        different = sum(a != b for i, a in enumerate(means) for b in means[i + 1:])
        procedures = {"fixed 3": ({}, 1 - CONFIDENCE), "fixed 5": ({}, 1 - CONFIDENCE),
                      "fixed 8": ({}, 1 - CONFIDENCE), "auto 3-8": ({}, config.alpha),
                      "auto 3-8, uncorrected": ({}, 1 - CONFIDENCE)}
        tallies = {p: [0, 0, 0] for p in procedures}
        for _ in range(args.suites):
            records = suite(rng, means, config.high)
            for proc, (_, alpha) in procedures.items():
                if proc.startswith("fixed"):
                    counts = {m: int(proc.split()[1]) for m in records}
                else:
                    counts = auto(records, config, None if proc == "auto 3-8" else 1 - CONFIDENCE)
                false, separated, runs = outcome(records, counts, alpha, means)
                for k, v in enumerate((false, separated, runs)):
                    tallies[proc][k] += v
        print(f"\n{name} (true means {', '.join(f'{m:.2f}' for m in means)}):")
        print(f"  {'procedure':<24}{'false separation':>18}{'power':>10}{'runs/suite':>12}")
        for proc, (false, separated, runs) in tallies.items():
            power = f"{100 * separated / (different * args.suites):.0f} %" if different else "–"
            print(f"  {proc:<24}{100 * false / args.suites:>16.1f} %{power:>10}{runs / args.suites:>12.1f}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
