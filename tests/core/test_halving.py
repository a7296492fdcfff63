"""Successive halving, the default for learning-rate grids: every rate to 1/3 of its planned steps, the best third
on; a survivor resumes from its rung's state and is the same run (run id, losses, scores) an exhaustive sweep makes."""
import dataclasses

import pytest

from benchhub import halving
from benchhub.budget import Budget
from benchhub.records import RunRecord, Status
from benchhub.spec import Cell, ComponentSpec, RunSpec
from cli_helpers import invoke, records


@pytest.mark.parametrize("rates, expected", [
    (1, []), (2, [(3, 1)]), (3, [(3, 1)]), (4, [(9, 2), (3, 1)]), (9, [(9, 3), (3, 1)]),
    (10, [(27, 4), (9, 2), (3, 1)]),
])
def test_rungs_keep_the_best_third_until_one_is_left(rates, expected):
    assert halving.rungs(rates) == expected


def _cell(grid=(0.1, 0.3, 1.0), eta=3, seeds=(1000,)):
    spec = RunSpec("s", ComponentSpec("full"), ComponentSpec("m"), ComponentSpec("d"), ("acc",),
                   Budget(max_steps=30), 0, grid[0])
    return Cell(spec, tuple(grid), (0, 1), sweep_seeds=seeds, halving=eta)


def _record(spec, score, steps=10, status=Status.OK):
    return RunRecord(run_id=f"r{spec.lr}-{spec.rung}-{spec.seed}", config=spec.config(), status=status, environment={},
                     scores={"validation": {"metrics": {"acc": score}, "examples": 5}} if score is not None else {},
                     scoring={"primary": "acc", "higher_is_better": {"acc": True}}, role="rung" if spec.rung else "sweep",
                     train={"seconds": 1.0, "steps": steps, "planned_steps": 30})


def test_advance_runs_the_rung_then_the_survivor_then_chooses():
    cell = _cell()
    first, chosen = halving.advance(cell, {})
    assert chosen is None and [(s.rung, s.lr) for s in first] == [(3, 0.1), (3, 0.3), (3, 1.0)]
    results = {halving.key(s): _record(s, score) for s, score in zip(first, (0.4, 0.6, 0.5))}
    survivor, chosen = halving.advance(cell, results)
    assert chosen is None and [(s.rung, s.lr) for s in survivor] == [(0, 0.3)]  # only the best third goes on
    results[halving.key(survivor[0])] = _record(survivor[0], 0.7, steps=30)
    missing, selection = halving.advance(cell, results)
    assert missing == [] and selection["chosen"] == 0.3
    assert selection["validation"] == {"0.1": None, "0.3": 0.7, "1": None}  # full-length scores only
    rung = selection["halving"]["rungs"][0]
    assert rung == {"rung": 3, "steps": 10, "validation": {"0.1": 0.4, "0.3": 0.6, "1": 0.5}, "kept": [0.3]}
    assert "0.1 out at 10 steps (0.400)" in selection["summary"]


def test_a_rung_whose_rates_all_failed_chooses_nothing_and_a_failed_rate_never_survives():
    cell = _cell()
    first, _ = halving.advance(cell, {})
    failed = {halving.key(s): _record(s, None, status=Status.FAILED) for s in first}
    assert halving.advance(cell, failed) == ([], None)
    one = dict(failed)
    one[halving.key(first[2])] = _record(first[2], 0.1)
    assert [s.lr for s in halving.advance(cell, one)[0]] == [1.0]


def test_exhaustive_mode_and_the_steps_saved():
    full = _cell(eta=0)
    assert [(s.rung, s.lr) for s in halving.advance(full, {})[0]] == [(0, 0.1), (0, 0.3), (0, 1.0)]
    assert halving.count(full) == 3 + 2 and halving.steps_saved(full) == 0
    assert halving.count(_cell()) == 3 + 1 + 2
    assert halving.steps_saved(_cell()) == pytest.approx(1 - (3 / 3 + 2 / 3) / 3)  # 44 %
    nine = _cell(grid=[0.1 * i for i in range(1, 10)])  # 9 to 1/9, 3 on to 1/3, 1 to the end
    assert halving.steps_saved(nine) == pytest.approx(1 - (9 / 9 + 3 * (1 / 3 - 1 / 9) + (1 - 1 / 3)) / 9)


def _grid_suite(toy_suite, tmp_path, sweep=""):
    suite = toy_suite(["zero-shot", "full"]).read_text().replace("lr = 0.5", "lr = [0.05, 0.5, 5.0]")
    suite = suite.replace('metrics = ["toy-accuracy"]', f'metrics = ["toy-accuracy"]\nseeds = [0, 1]\n{sweep}')
    path = tmp_path / f"grid{len(sweep)}.toml"
    path.write_text(suite)
    return path


def test_halving_runs_rungs_resumes_the_survivor_and_matches_the_exhaustive_run(toy, toy_suite, tmp_path):
    path = _grid_suite(toy_suite, tmp_path)
    results = tmp_path / "halving"
    result = invoke("run", "--suite", path, "--results", results, "--dry-run")
    assert "7 runs planned" in result.output  # zero-shot, 3 rungs, 1 survivor, 2 finals
    result = invoke("run", "--suite", path, "--results", results)
    assert result.exit_code == 0, result.output
    stored = [r for r in records(results) if r["config"]["method"]["name"] == "full"]
    rungs = [r for r in stored if r["role"] == "rung"]
    assert sorted(r["config"]["method"]["lr"] for r in rungs) == [0.05, 0.5, 5.0]
    assert {(r["config"]["rung"], r["train"]["steps"], r["train"]["planned_steps"], r["train"]["stopped_by"])
            for r in rungs} == {(3, 7, 20, "rung")}  # 20 planned steps: stops after ceil(20 / 3)
    assert all(not r["metrics"] and "validation" in r["scores"] and not r["weights"] for r in rungs)
    survivor, = [r for r in stored if r["role"] == "sweep"]
    assert survivor["train"]["steps"] == 20 and survivor["train"]["resume"]["resumed_from_step"] == 7
    finals = [r for r in stored if r["role"] == "final"]
    chosen = survivor["config"]["method"]["lr"]
    assert {r["config"]["method"]["lr"] for r in finals} == {chosen} and len(finals) == 2
    rung_scores = {r["config"]["method"]["lr"]: r["scores"]["validation"]["metrics"]["accuracy"] for r in rungs}
    assert chosen == max(rung_scores, key=lambda lr: (rung_scores[lr], -[0.05, 0.5, 5.0].index(lr)))
    assert finals[0]["selection"]["halving"]["rungs"][0]["kept"] == [chosen]
    assert not list((results / "toy" / "resume").glob("*.pt"))  # every state used up
    board = (results / "toy" / "leaderboard.md").read_text()
    assert "out at 7 steps" in board and "% saved by halving)" in board
    # the exhaustive sweep elsewhere: the survivor is the same run (id, every loss, its score), never resumed
    full = tmp_path / "full"
    assert invoke("run", "--suite", path, "--results", full, "--sweep", "full").exit_code == 0
    same, = [r for r in records(full) if r["run_id"] == survivor["run_id"]]
    assert same["train"]["loss_curve"] == survivor["train"]["loss_curve"] and "resume" not in same["train"]
    assert same["scores"]["validation"]["metrics"] == survivor["scores"]["validation"]["metrics"]
    assert same["per_example"] == survivor["per_example"]
    # --sweep full over the halving results reuses the survivor and runs only the rates halving stopped
    more = invoke("run", "--suite", path, "--results", results, "--sweep", "full")
    assert more.exit_code == 0 and "2 ran, " in more.output, more.output  # (and finals if the choice moved)


def test_a_rung_run_never_resumes_past_its_stop(tmp_path):
    """A state saved later (a survivor killed at step 15) is not a rung's start: the rung trains from step 1."""
    import torch

    from benchhub.resume import Resume

    state = tmp_path / "state.pt"
    resume = Resume(str(state), "run")
    params = {"w": torch.nn.Parameter(torch.zeros(2))}
    optimizer = torch.optim.SGD(list(params.values()), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    model = torch.nn.Module()
    resume.save(15, 20, model, params, optimizer, scheduler, {"losses": [1.0] * 15, "tokens": 0, "seconds": 1.0})
    assert resume.load(20, model, params, optimizer, scheduler, last=7) is None
    assert resume.load(20, model, params, optimizer, scheduler, last=20)["step"] == 15


def test_the_rung_says_how_firm_its_cut_was():
    """The best stopped rate against the one kept, paired over the validation examples."""
    import numpy as np

    cell = _cell()
    first, _ = halving.advance(cell, {})
    rng = np.random.default_rng(0)
    results = {}
    for spec, mean in zip(first, (0.2, 0.8, 0.75)):
        values = (mean + rng.normal(0, 0.05, 40)).tolist()
        record = dataclasses.replace(_record(spec, float(np.mean(values))),
                                     per_example={"validation": {"ids": list(range(40)), "acc": values}})
        results[halving.key(spec)] = record
    halving.advance(cell, results)  # the survivor is still to run
    survivor = [s for s in halving.advance(cell, results)[0]][0]
    results[halving.key(survivor)] = _record(survivor, 0.9, steps=30)
    rung = halving.advance(cell, results)[1]["halving"]["rungs"][0]
    assert rung["kept"] == [0.3] and rung["first_out"]["lr"] == 1.0
    assert rung["first_out"]["difference"] == pytest.approx(
        np.mean(results[3, 0.3, 1000].per_example["validation"]["acc"])
        - np.mean(results[3, 1.0, 1000].per_example["validation"]["acc"]))
