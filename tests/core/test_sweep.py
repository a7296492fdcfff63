"""Learning-rate grids: each rate trains with the sweep seeds (never a final seed) and is scored on validation
only; the rate chosen there runs with every final seed and only those runs are scored on the evaluation split."""
import dataclasses

import pytest

from benchhub.budget import Budget
from benchhub.records import RunRecord, Status
from benchhub.spec import Cell, ComponentSpec, RunSpec
from benchhub.sweep import choose_lr
from cli_helpers import assert_one_line_error, invoke, records


def test_a_grid_is_swept_on_validation_and_the_chosen_rate_runs_every_seed(toy, toy_suite, tmp_path):
    """The exhaustive sweep (`sweep = "full"`; successive halving, the default, is in test_halving)."""
    suite = toy_suite(["zero-shot", "full"], extra="").read_text().replace("lr = 0.5", "lr = [0.05, 0.5, 5.0]")
    suite = suite.replace('metrics = ["toy-accuracy"]', 'metrics = ["toy-accuracy"]\nseeds = [0, 1]\nsweep = "full"')
    path = tmp_path / "grid.toml"
    path.write_text(suite)
    results = tmp_path / "results"
    result = invoke("run", "--suite", path, "--results", results)
    assert result.exit_code == 0, result.output
    stored = [r for r in records(results) if r["config"]["method"]["name"] == "full"]
    sweep = {r["config"]["method"]["lr"]: r for r in stored if r["config"]["seed"] == 1000}
    assert set(sweep) == {0.05, 0.5, 5.0}  # every rate once, with the sweep seed
    assert all(r["role"] == "sweep" and not r["metrics"] for r in sweep.values())  # none is a ranked run
    validation = {lr: r["scores"]["validation"]["metrics"]["accuracy"] for lr, r in sweep.items()}
    chosen = max(validation, key=lambda lr: (validation[lr], -[0.05, 0.5, 5.0].index(lr)))
    finals = [r for r in stored if r["metrics"]]
    assert {r["config"]["method"]["lr"] for r in finals} == {chosen}  # only the chosen rate saw the eval split
    assert sorted(r["config"]["seed"] for r in finals) == [0, 1]
    for r in finals:
        assert r["selection"]["chosen"] == chosen and r["selection"]["grid"] == [0.05, 0.5, 5.0]
        assert r["role"] == "final" and r["randomness"]["seed"] == r["config"]["seed"]
        assert r["selection"]["seeds"] == [1000] and set(r["selection"]["intervals"]) == {"0.05", "0.5", "5"}
        assert r["selection"]["noise"] == "validation examples only (one sweep seed)"
    for lr, r in sweep.items():
        assert "eval" not in r["per_example"]
    # the sweep carved its validation examples out of the training data, the same for every run
    assert {r["data"]["validation"] for r in stored} == {finals[0]["data"]["validation"]}
    assert finals[0]["data"]["train"] + finals[0]["data"]["validation"] == 48  # the toy dataset's size
    assert finals[0]["data"]["validation"] == 5
    board = (results / "toy" / "leaderboard.md").read_text()
    assert "Learning rates, chosen on the validation split" in board
    assert f"| {chosen:g} |" in board and "Rank" in board and "| `full` | 1000 | 0.05: " in board
    again = invoke("run", "--suite", path, "--results", results)
    assert again.exit_code == 0 and "0 ran, 6 reused" in again.output  # zero-shot, 3 sweep runs, 2 seeds
    # other final seeds reuse the sweep (its seed is its own): only the new final runs train
    more = invoke("run", "--suite", path, "--results", results, "--seeds", "2,3")
    assert more.exit_code == 0 and "3 ran, 3 reused" in more.output, more.output  # zero-shot seed 2 is new


def test_sweep_seeds_must_be_disjoint_from_the_final_seeds(toy, toy_suite, tmp_path):
    suite = toy_suite(["full(lr=[0.1,0.3])"])
    assert_one_line_error(invoke("run", "--suite", suite, "--seeds", "0,1000", "--dry-run"),
                          "seed 1000 is both a final seed and a sweep seed")
    assert_one_line_error(invoke("run", "--suite", suite, "--sweep-seeds", "1", "--seeds", "0,1", "--dry-run"),
                          "seed 1 is both a final seed and a sweep seed")
    assert_one_line_error(invoke("run", "--suite", suite, "--sweep-seeds", "x", "--dry-run"), "--sweep-seeds expects")
    path = tmp_path / "bad.toml"
    path.write_text(suite.read_text().replace("[suite]\n", "[suite]\nsweep_seeds = [true]\n"))
    assert_one_line_error(invoke("run", "--suite", path, "--dry-run"), "[suite] sweep_seeds[0] must be an integer, got true")
    assert_one_line_error(invoke("run", "--suite", suite, "--seeds", "0,0", "--dry-run"), "seed 0 is listed twice")
    assert_one_line_error(invoke("run", "--suite", suite, "--sweep-seeds", "7,7", "--dry-run"),
                          "--sweep-seeds: seed 7 is listed twice")
    two = invoke("run", "--suite", suite, "--sweep-seeds", "7,8", "--dry-run")
    assert two.exit_code == 0 and two.output.count("(sweep to 1/3 of the steps: validation only)") == 4  # 2 × 2


def test_the_dry_run_shows_the_sweep_and_what_follows(toy, toy_suite):
    result = invoke("run", "--suite", toy_suite(["full(lr=[0.1,0.3])"]), "--seeds", "0,1,2", "--dry-run",
                    "--sweep", "full")
    assert result.exit_code == 0, result.output
    assert result.output.count("(sweep: validation only)") == 2
    assert "then every rate of the grid (0.1, 0.3) at full length; then the chosen lr × final seeds 0, 1, 2" \
        in " ".join(result.output.split())
    assert "5 runs planned" in result.output  # 2 rates on the sweep seed + 3 final seeds of the chosen one


@pytest.mark.parametrize("value, needle", [
    ("[0.1, nan]", "finite non-negative"), ("[0.1, inf]", "finite non-negative"), ("[0.1, 0.1]", "distinct"),
    ("[]", "at least one value"), ('[0.1, "x"]', "finite non-negative"), ("-1", "finite non-negative"),
])
def test_bad_grids_are_refused_before_anything_runs(toy, toy_suite, tmp_path, value, needle):
    results = tmp_path / "results"
    result = invoke("run", "--suite", toy_suite(["full"]), "--methods", f"full(lr={value})", "--results", results)
    assert_one_line_error(result, needle)
    assert not results.exists()


def test_a_method_that_does_not_train_takes_no_grid(toy, toy_suite):
    assert_one_line_error(invoke("run", "--suite", toy_suite(["zero-shot"]), "--methods", "zero-shot(lr=[0.1,0.2])",
                                 "--dry-run"), "does not train")


def test_runs_side_by_side_must_fit_the_cores(toy, toy_suite):
    import os

    cores = len(os.sched_getaffinity(0))
    assert_one_line_error(invoke("run", "--suite", toy_suite(), "--jobs", cores + 1, "--threads", 1),
                          "need more than")


def _spec(lr):
    return RunSpec(suite="s", method=ComponentSpec("full"), model=ComponentSpec("toy"), dataset=ComponentSpec("d"),
                   metrics=("m",), budget=Budget(), seed=0, lr=lr)


def _sweep_record(lr, score, status=Status.OK, higher=True, seed=1000, per_example=None):
    config = dataclasses.replace(_spec(lr), seed=seed).config()
    return RunRecord(run_id=f"r{lr}s{seed}", config=config, status=status, environment={},
                     scoring={"primary": "acc", "higher_is_better": {"acc": higher}},
                     scores={"validation": {"metrics": {"acc": score}, "examples": 10}} if score is not None else {},
                     per_example={"validation": per_example} if per_example else {}, role="sweep")


def test_choose_lr_takes_the_best_validation_score_and_breaks_ties_by_grid_order():
    cell = Cell(_spec(0.1), (0.1, 0.3, 1.0), (0, 1))
    picked = choose_lr(cell, {(lr, 1000): _sweep_record(lr, s) for lr, s in ((0.1, 0.5), (0.3, 0.7), (1.0, 0.7))})
    assert picked["chosen"] == 0.3 and picked["validation"] == {"0.1": 0.5, "0.3": 0.7, "1": 0.7}
    assert picked["examples"] == 10 and picked["seeds"] == [1000]


def test_choose_lr_skips_unfinished_rates_and_follows_lower_is_better():
    cell = Cell(_spec(0.1), (0.1, 0.3), (0,))
    over = dataclasses.replace(_sweep_record(0.3, 0.1, higher=False), status=Status.OVER_BUDGET)
    assert choose_lr(cell, {(0.1, 1000): _sweep_record(0.1, 0.5, higher=False), (0.3, 1000): over})["chosen"] == 0.1
    lower = {(0.1, 1000): _sweep_record(0.1, 0.5, higher=False), (0.3, 1000): _sweep_record(0.3, 0.2, higher=False)}
    assert choose_lr(cell, lower)["chosen"] == 0.3
    failed = {(lr, 1000): _sweep_record(lr, None, status=Status.FAILED) for lr in (0.1, 0.3)}
    assert choose_lr(cell, failed) is None


def test_choose_lr_says_how_firm_the_choice_is():
    """Each rate's validation interval, and whether the runner-up is within noise (paired on the examples)."""
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 200)
    ids = [f"v{i}" for i in range(200)]

    def rec(lr, shift, seed):
        scores = list(np.clip(base + shift + rng.normal(0, 0.05, 200), 0, None))
        return _sweep_record(lr, float(np.mean(scores)), seed=seed, per_example={"ids": ids, "acc": scores})

    one = Cell(_spec(0.1), (0.1, 0.3, 1.0), (0,), sweep_seeds=(1000,))
    close = choose_lr(one, {(0.1, 1000): rec(0.1, 0.0, 1000), (0.3, 1000): rec(0.3, 0.002, 1000),
                            (1.0, 1000): rec(1.0, -0.3, 1000)})
    assert close["chosen"] == 0.3 and close["runner_up"]["lr"] == 0.1 and close["runner_up"]["within_noise"]
    low, high = close["intervals"]["0.3"]
    assert low < close["validation"]["0.3"] < high and "within noise" in close["summary"]
    far = choose_lr(one, {(0.1, 1000): rec(0.1, 0.0, 1000), (0.3, 1000): rec(0.3, 0.2, 1000),
                          (1.0, 1000): rec(1.0, -0.3, 1000)})
    assert far["runner_up"]["within_noise"] is False and far["runner_up"]["low"] > 0
    # two sweep seeds: a rate's score is their mean, and its interval counts the seeds too
    two = Cell(_spec(0.1), (0.1, 0.3), (0,), sweep_seeds=(7, 8))
    both = choose_lr(two, {(lr, s): rec(lr, shift, s) for lr, shift in ((0.1, 0.0), (0.3, 0.1)) for s in (7, 8)})
    assert both["chosen"] == 0.3 and both["seeds"] == [7, 8] and "sweep seeds" in both["noise"]
    assert choose_lr(two, {(0.1, 7): rec(0.1, 0.0, 7)}) is None  # a rate competes only with every sweep seed


def test_a_suite_can_name_a_source_set_and_the_leaderboard_shows_forgetting(toy, toy_suite, tmp_path):
    path = toy_suite(["zero-shot", "full"], extra='[source]\nname = "toy-data"\nsize = 30\n')  # its eval split (15) is the source set
    results = tmp_path / "results"
    result = invoke("run", "--suite", path, "--results", results)
    assert result.exit_code == 0, result.output
    for r in records(results):
        assert r["scores"]["source"]["examples"] == 15 and "accuracy" in r["scores"]["source"]["metrics"]
        assert r["config"]["source"] == {"name": "toy-data", "options": {"size": 30}}
    board = (results / "toy" / "leaderboard.md").read_text()
    assert "| Source accuracy ↑ | Forgetting ↓ [95 % CI] |" in board and "| baseline |" in board


@pytest.mark.parametrize("extra, needle", [
    ('[source]\nname = "nope"\n', "unknown dataset 'nope'"),
    ("[source]\nsize = 3\n", "[source] name is required"),
    ('[source]\nname = "shapes"\n', "is task 'caption'"),
])
def test_bad_source_sets_are_refused(toy, toy_suite, extra, needle):
    assert_one_line_error(invoke("run", "--suite", toy_suite(["full"], extra=extra), "--dry-run"), needle)


@pytest.mark.parametrize("head, needle", [
    ('reference = "lora"', "reference must be one of the suite's methods"),
    ("jobs = 0", "[suite] jobs must be greater than or equal to 1, got 0"),
    ('jobs = "2"', "[suite] jobs must be an integer, got '2'"),
])
def test_bad_suite_keys_are_refused(toy, toy_suite, tmp_path, head, needle):
    path = tmp_path / "bad.toml"
    path.write_text(toy_suite(["full"]).read_text().replace('[suite]\n', f"[suite]\n{head}\n"))
    assert_one_line_error(invoke("run", "--suite", path, "--dry-run"), needle)


def test_threads_are_part_of_the_budget(toy, toy_suite, tmp_path):
    assert_one_line_error(invoke("run", "--suite", toy_suite(["full"], extra="threads = 0"), "--dry-run"),
                          "[budget] threads must be greater than or equal to 1, got 0")
    results = tmp_path / "results"
    assert invoke("run", "--suite", toy_suite(["full"]), "--threads", 1, "--results", results).exit_code == 0
    assert records(results)[0]["config"]["budget"]["threads"] == 1


def test_the_suites_jobs_shrink_to_the_cores_but_an_explicit_jobs_is_refused():
    import os

    import torch

    from benchhub.executors import side_by_side
    from benchhub.errors import UserError

    cores, cpu = len(os.sched_getaffinity(0)), torch.device("cpu")
    assert side_by_side(None, cores + 3, 1, cpu) == cores  # the suite asks for more than fits: lowered
    assert side_by_side(None, 2, None, cpu) == 1  # threads unset: a run may use every core
    assert side_by_side(None, 4, 1, torch.device("cuda")) == 1
    with pytest.raises(UserError, match="need more than"):
        side_by_side(cores + 1, 1, 1, cpu)
    assert side_by_side(None, 8, 1, cpu, processes=2) == max(1, cores // 2)  # each run takes 2 cores
    with pytest.raises(UserError, match=f"--processes {cores + 1} × 1 threads per process need more than"):
        side_by_side(None, 1, 1, cpu, processes=cores + 1)


def test_on_gpus_each_run_gets_one_visible_device(monkeypatch):
    """`--jobs` on CUDA: one run per visible device, each child told its device (`CUDA_VISIBLE_DEVICES`)."""
    import threading

    import torch

    from benchhub import executors, isolation
    from benchhub.errors import UserError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    cuda = torch.device("cuda")
    assert executors.side_by_side(None, 1, 1, cuda) == 2
    with pytest.raises(UserError, match="--jobs 3 × --processes 1 need 3 accelerators; 2 visible"):
        executors.side_by_side(3, 1, 1, cuda)
    assert executors.side_by_side(None, 1, 1, cuda, processes=2) == 1
    with pytest.raises(UserError, match="--jobs 2 × --processes 2 need 4 accelerators; 2 visible"):
        executors.side_by_side(2, 1, 1, cuda, processes=2)
    seen, barrier = [], threading.Barrier(2)

    def child(task, payload, on_event=None, log_path=None, timeout=None, processes=1):
        if "visible_devices" not in payload:
            return {"status": "ok", "payload": payload}
        barrier.wait(timeout=5)  # both runs hold a device at once
        seen.append(payload["visible_devices"])
        return {"status": "ok"}

    monkeypatch.setattr(isolation, "run_in_child", child)
    local = executors.Local(cuda)
    local.reserve(2)
    threads = [threading.Thread(target=local.run, args=(None, {})) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == ["3", "5"]
    seen.clear()
    barrier = threading.Barrier(1)  # a run of 2 processes takes both devices: its ranks are cuda:0 and cuda:1
    local.run(None, {"config": {"budget": {"processes": 2}}})
    assert sorted(seen[0].split(",")) == ["3", "5"]
    assert executors.Local(torch.device("cpu")).run(None, {"x": 1})["payload"] == {"x": 1}  # CPU: no device set


def test_run_ends_with_the_leaderboard_even_when_every_run_is_reused_and_quiet_prints_only_paths(toy, toy_suite,
                                                                                               tmp_path):
    suite, results = toy_suite(["zero-shot", "full"]), tmp_path / "results"
    first = invoke("run", "--suite", suite, "--results", results)
    assert first.exit_code == 0 and "Rank" in first.output and "full" in first.output
    again = invoke("run", "--suite", suite, "--results", results)
    assert again.exit_code == 0 and "0 ran, 2 reused" in again.output
    assert "Rank" in again.output and "accuracy (95 % CI)" in again.output  # the answer, though nothing ran
    assert "2 runs were reused from earlier records" in again.output and "--force" in again.output
    quiet = invoke("run", "--suite", suite, "--results", results, "--quiet")
    assert quiet.exit_code == 0
    assert quiet.output.split() == [str(results / "toy" / n) for n in ("leaderboard.md", "report.html",
                                                                        "leaderboard.csv")]


def test_selecting_methods_keeps_the_suites_run_ids(fresh_plugins, tmp_path):
    """`--methods zero-shot` on a suite whose other methods sweep: the same validation split, the same run id as
    in the whole suite (a run is not re-measured because of what else was selected)."""
    import re

    def ids(*args):
        out = invoke("run", "--dry-run", "--results", tmp_path, *args).output
        return set(re.findall(r"zero-shot\s.*?([0-9a-f]{16})", out))

    assert ids("--methods", "zero-shot") == ids() != set()
