"""Data budgets (issue 25): nested, stratified training subsets, drawn once and the same for every method and
seed; each method runs at each size; bad sizes are one-line errors before anything runs."""
import json
from collections import Counter

import pytest

from benchhub import plugins
from benchhub.subsets import nested_order, subset
from cli_helpers import assert_one_line_error, invoke


def test_every_prefix_is_stratified_within_one_example():
    strata = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5
    order = nested_order(strata)
    assert sorted(order) == list(range(100)) and order == nested_order(strata)  # a fixed permutation
    share = Counter(strata)
    for k in range(1, 101):
        counts = Counter(strata[i] for i in order[:k])
        for key, n in share.items():
            assert abs(counts[key] - k * n / 100) < 1 + 1e-9, (k, key)


def test_subsets_are_nested_and_refuse_more_than_there_is():
    train = [{"label": i % 3, "x": i} for i in range(60)]
    sizes = [subset(train, n, lambda ex: ex["label"]) for n in (6, 20, 60)]
    assert [len(s) for s in sizes] == [6, 20, 60]
    assert all(ex in sizes[1] for ex in sizes[0]) and all(ex in sizes[2] for ex in sizes[1])
    assert Counter(ex["label"] for ex in sizes[0]) == {0: 2, 1: 2, 2: 2}
    from benchhub.errors import RunFailure

    with pytest.raises(RunFailure, match="train size 61 is more than the 60 training examples"):
        subset(train, 61, lambda ex: ex["label"])


def test_shapes_subsets_are_the_same_images_for_every_seed(fresh_plugins):
    dataset = plugins.registry().create("dataset", "shapes", train_size=60, eval_size=2, validation_size=2,
                                        source_size=2)
    picks = []
    for seed in (0, 1):
        train = dataset.load(seed=seed).train
        picks.append([ex["image"].tobytes() for ex in subset(train, 20, dataset.stratum)])
    assert picks[0] == picks[1]  # the seed picks captions, never which images a budget keeps
    strata = Counter(dataset.stratum(ex) for ex in dataset.load(seed=0).train)
    assert len(strata) > 3 and None not in strata


@pytest.mark.parametrize("args, needle", [
    (["--train-sizes", "30,30"], "30 is listed twice"), (["--train-sizes", "0"], "at least 1"),
    (["--train-sizes", "30,500"], "train size 500 is more than dataset 'shapes' has (300 training examples"),
    (["--train-sizes", "x"], "--train-sizes expects comma-separated integers"),
])
def test_bad_sizes_are_one_line_errors(fresh_plugins, tmp_path, args, needle):
    assert_one_line_error(invoke("run", "--results", tmp_path, *args), needle)


def test_a_suite_with_train_sizes_runs_each_method_at_each_size(toy, toy_suite, tmp_path):
    path = tmp_path / "sizes.toml"
    path.write_text(toy_suite(["zero-shot", "full"]).read_text().replace("[suite]\n", "[suite]\ntrain_sizes = [12, 24]\n"))
    results = tmp_path / "results"
    result = invoke("run", "--suite", path, "--results", results)
    assert result.exit_code == 0, result.output
    stored = [json.loads(p.read_text()) for p in (results / "toy").glob("*__*.json")]
    sizes = {r["config"]["method_label"]: (r["config"].get("train_subset"), r["data"]["train"]) for r in stored}
    assert sizes == {"zero-shot": (None, 48), "full @12": (12, 12), "full @24": (24, 24)}
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("train_sizes = [12, 24]", "train_sizes = [12, 12]"))
    assert_one_line_error(invoke("run", "--suite", bad, "--dry-run"), "train size 12 is listed twice")


class _Ok:
    ranked = True


class _Record:
    def __init__(self, scores):
        self.status, self.metrics = _Ok, {"acc": sum(scores) / len(scores)}
        self.per_example = {"eval": {"ids": list(range(len(scores))), "acc": list(scores)}}


def _row(mean, rng, seeds=3):
    import numpy as np

    return {"records": [_Record((mean + rng.normal(0, 0.01, 60)).tolist()) for _ in range(seeds)], "trains": True}


@pytest.mark.parametrize("means, expected", [
    ((0.5, 0.85, 0.99), "100"),  # the first size at or above 90 % of the reference, firmly
    ((0.5, 0.6, 0.7), "not reached (beyond 100)"),
    ((0.95, 0.97, 0.99), "10"),
])
def test_the_smallest_size_reaching_90_percent_of_the_reference(means, expected):
    import numpy as np

    from benchhub.report.budgets import smallest_size

    rng = np.random.default_rng(0)
    sizes = {n: _row(m, rng) for n, m in zip((10, 30, 100), means)}
    assert smallest_size(sizes, _row(1.0, rng), "acc") == expected


def test_a_close_call_gives_a_range():
    import numpy as np

    from benchhub.report.budgets import smallest_size

    rng = np.random.default_rng(1)
    noisy = lambda m: {"records": [_Record((m + rng.normal(0, 0.3, 60)).tolist()) for _ in range(3)],  # noqa: E731
                       "trains": True}
    text = smallest_size({10: noisy(0.8), 30: noisy(0.9), 100: noisy(1.0)}, noisy(1.0), "acc")
    assert "(" in text and "–" in text  # the point estimate with its plausible range


@pytest.mark.real_plots
def test_the_leaderboard_shows_the_budgets_and_their_learning_curve(toy, toy_suite, tmp_path):
    from benchhub.report.figures import plots
    from benchhub.report.ranking import boards
    from benchhub.store import Store

    path = tmp_path / "sizes.toml"
    path.write_text(toy_suite(["full"]).read_text().replace("[suite]\n", "[suite]\ntrain_sizes = [12, 24]\n"))
    assert invoke("run", "--suite", path, "--results", tmp_path).exit_code == 0
    board = (tmp_path / "toy" / "leaderboard.md").read_text()
    assert "Data budgets: every training method on nested, stratified subsets" in board
    assert "| `full` | " in board and "12 examples | 24 examples" in board
    assert (tmp_path / "toy" / "plots" / "table1-learning-curve.png").stat().st_size > 1000
    board, = boards(Store(tmp_path, "toy").records())
    curve = next(p for p in plots(board) if p.kind == "learning-curve")
    assert [pt[0] for pt in curve.data["curves"][0]["points"]] == [12, 24]
    import plotly.graph_objects as go

    from benchhub.report.interactive import figure

    go.Figure(figure(curve, board.primary))  # a valid Plotly figure
