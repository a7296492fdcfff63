"""Adaptive seeds: 3 seeds per training method, more (3 -> 5 -> 8) only while its rank is ambiguous, every look's
tests at 5 % / looks; the leaderboard replays the looks to say how many seeds each row got and why."""
import numpy as np
import pytest

from benchhub import seeding
from cli_helpers import assert_one_line_error, invoke, records


@pytest.mark.parametrize("low, high, looks", [(3, 8, [3, 5, 8]), (3, 3, [3]), (3, 20, [3, 5, 8, 12, 18, 20]),
                                              (4, 6, [4, 6])])
def test_the_looks_grow_by_half(low, high, looks):
    assert seeding.schedule(low, high) == looks
    assert seeding.Auto(low, high).alpha == pytest.approx(0.05 / len(looks))


class _Ok:
    ranked = True


class Fake:
    def __init__(self, seed, scores):
        self.seed, self.status = seed, _Ok
        self.metrics = {"acc": float(np.mean(scores))}
        self.per_example = {"eval": {"ids": list(range(len(scores))), "acc": list(scores)}}


def _rows(rng, means, seeds=8, noise=0.05):
    return {name: ([Fake(s, mean + rng.normal(0, noise, 100)) for s in range(seeds)], True)
            for name, mean in means.items()}


def test_only_the_ambiguous_methods_get_more_seeds():
    rng = np.random.default_rng(0)
    rows = _rows(rng, {"best": 0.9, "b": 0.5, "c": 0.5})
    rows["zero-shot"] = ([Fake(0, np.full(100, 0.1))], False)  # deterministic: one run, never more
    auto = seeding.Auto(3, 8)
    need, seen = seeding.decide({m: (recs[:3], t) for m, (recs, t) in rows.items()}, "acc", True, auto)
    assert need == {"best": 3, "b": 5, "c": 5}  # the next look's runs, for the two that are not separated
    need, seen = seeding.decide(rows, "acc", True, auto)
    assert need == {"best": 3, "b": 8, "c": 8}
    assert [n for n, _, _ in seen["b"]] == [3, 5, 8] and seen["best"][0] == (3, 1, 1)
    assert seeding.explain(seen["b"], auto) == "rank 2–3 at 3, 5 and 8 seeds; the maximum"
    assert seeding.explain(seen["best"], auto) == "rank 1 separated at 3 seeds"


def test_a_look_waits_for_its_runs():
    rows = _rows(np.random.default_rng(1), {"b": 0.5, "c": 0.5})
    rows["b"] = (rows["b"][0][:4], True)  # c has its 5, b only 4 of them: the second look cannot be taken yet
    need, _ = seeding.decide(rows, "acc", True, seeding.Auto(3, 8))
    assert need == {"b": 5, "c": 5}


@pytest.mark.parametrize("text, needle", [("autox", "auto:LOW-HIGH"), ("auto:2-5", "3 <= minimum"),
                                          ("auto:5-4", "3 <= minimum"), ("auto:3-1000", "<= 100")])
def test_bad_ranges_are_one_line_errors(toy, toy_suite, text, needle):
    assert_one_line_error(invoke("run", "--suite", toy_suite(), "--seeds", text, "--dry-run"), needle)


def test_suite_bounds_need_auto(toy, toy_suite, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(toy_suite().read_text().replace("[suite]\n", "[suite]\nmin_seeds = 4\n"))
    assert_one_line_error(invoke("run", "--suite", path, "--dry-run"), 'they need seeds = "auto"')
    path.write_text(toy_suite().read_text().replace("[suite]\n", '[suite]\nseeds = "auto"\nmax_seeds = 2\n'))
    assert_one_line_error(invoke("run", "--suite", path, "--dry-run"), "max_seeds must be greater than or equal to 3")


def test_auto_seeds_through_the_cli(toy, toy_suite, tmp_path):
    """Two methods that tie (both reach accuracy 1) stay ambiguous and get 5 seeds; zero-shot runs once."""
    suite = toy_suite(["zero-shot", "full", "full(lr=0.4)"])
    results = tmp_path / "results"
    dry = invoke("run", "--suite", suite, "--results", results, "--seeds", "auto:3-5", "--dry-run")
    assert "7 runs planned (adaptive seeds: 3 per method, up to 5" in dry.output
    result = invoke("run", "--suite", suite, "--results", results, "--seeds", "auto:3-5")
    assert result.exit_code == 0, result.output
    finals = records(results)
    seeds = {label: sorted(r["config"]["seed"] for r in finals if r["config"]["method_label"] == label)
             for label in ("zero-shot", "full", "full(lr=0.4)")}
    assert seeds == {"zero-shot": [0], "full": [0, 1, 2, 3, 4], "full(lr=0.4)": [0, 1, 2, 3, 4]}
    trained = [r for r in finals if r["config"]["method_label"] != "zero-shot"]
    assert all(r["seeding"] == {"mode": "auto", "min": 3, "max": 5, "looks": [3, 5], "alpha": pytest.approx(0.025)}
               for r in trained)
    board = " ".join((results / "toy" / "leaderboard.md").read_text().split())
    assert "Seeds chosen adaptively: 3 to 5 per method" in board and "at 2.50 %" in board
    assert "`full` 5: rank 1–3 at 3 and 5 seeds; the maximum" in board  # the toy scores allow no test
    again = invoke("run", "--suite", suite, "--results", results, "--seeds", "auto:3-5")
    assert again.exit_code == 0 and "0 ran, 11 reused" in again.output, again.output
    fixed = invoke("run", "--suite", suite, "--results", results, "--seeds", "0,1,2")
    assert fixed.exit_code == 0 and "0 ran, 7 reused" in fixed.output
