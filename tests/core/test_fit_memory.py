"""Enforced memory budgets: the measured probe step, the micro-batch search, does-not-fit, the memory split."""
import pytest
import torch
from cli_helpers import invoke
from cli_helpers import records as _records

from benchhub import fit_memory
from benchhub.budget import Budget

MiB = 2**20


def test_search_shrinks_the_micro_batch_until_a_measured_step_fits(toy, toy_suite, tmp_path):
    """'toy:wide' keeps 64 MiB per example at its peak: 8 examples need ~512 MiB over the runtime."""
    suite = toy_suite(["full"])
    results = tmp_path / "results"
    free = invoke("run", "--suite", suite, "--models", "toy:wide", "--results", results / "free",
                  "--micro-batch", "8", "--max-steps", "3")
    assert free.exit_code == 0, free.output
    unlimited = _records(results / "free")[0]
    assert unlimited["batching"]["micro_batch"] == 8  # no limit: the budget's micro-batch, measured once
    needed_at_8 = unlimited["memory"]["search"]["trials"][0]["peak_bytes"]
    limit = needed_at_8 - 150 * MiB  # 8 cannot fit; 4 (about 256 MiB less) can
    capped = invoke("run", "--suite", suite, "--models", "toy:wide", "--results", results / "capped",
                    "--micro-batch", "8", "--max-steps", "3", "--memory-limit", str(limit))
    assert capped.exit_code == 0, capped.output
    record = _records(results / "capped")[0]
    trials = record["memory"]["search"]["trials"]
    assert [t["micro_batch"] for t in trials][:2] == [8, 4]
    assert not trials[0]["fits"] and trials[0]["peak_bytes"] > limit
    assert all(t["fits"] == (t["peak_bytes"] <= limit) for t in trials)
    chosen = trials[-1]["micro_batch"]
    assert trials[-1]["fits"] and chosen in (4, 2, 1)
    # the same effective batch and number of optimizer steps, by accumulation
    assert record["batching"] == {"effective_batch": 8, "micro_batch": chosen, "grad_accum_steps": 8 // chosen}
    assert record["train"]["steps"] == 3 and record["train"]["samples"] == 24
    # the trial that did not fit is not the run's peak: the run fits its limit
    assert record["status"] == "ok" and record["memory"]["peak_bytes"] <= limit
    assert record["memory"]["search"]["seconds"] < 10
    # the split adds up: activations/other is the step's peak minus the three static parts
    split = record["memory"]["split"]
    assert split["peak_allocated_bytes"] == (split["weights_bytes"] + split["gradients_bytes"]
                                             + split["optimizer_bytes"] + split["activations_other_bytes"])
    assert split["activations_other_bytes"] >= 64 * MiB * chosen * 0.9


def test_a_run_that_does_not_fit_at_micro_batch_1_is_recorded_unranked(toy, toy_suite, tmp_path):
    suite = toy_suite(["full", "zero-shot"], extra='memory_limit = "64MiB"')  # below the Python runtime itself
    results = tmp_path / "results"
    result = invoke("run", "--suite", suite, "--results", results)
    assert result.exit_code == 0, result.output  # not a failure: a finding
    record = next(r for r in _records(results) if r["config"]["method"]["name"] == "full")
    assert record["status"] == "does-not-fit"
    assert [t["micro_batch"] for t in record["memory"]["search"]["trials"]] == [4, 2, 1]
    assert record["memory"]["needed_bytes"] > 64 * MiB and not record["memory"]["needed_is_lower_bound"]
    assert record["train"] is None and record["metrics"] == {}
    board = (results / "toy" / "leaderboard.md").read_text()
    assert "🚫 does-not-fit (unranked; needs" in board
    again = invoke("run", "--suite", suite, "--results", results)  # a finished finding is not re-run
    assert "reused toy · full · lr 0.5 · seed 0" in again.output and "0 ran, 2 reused" in again.output
    assert_predict = invoke("predict", record["run_id"], "x.png", "--results", results)
    assert assert_predict.exit_code == 2 and "did not fit" in assert_predict.output


def test_growth_after_the_probe_is_still_caught_as_over_budget(toy, toy_suite, tmp_path):
    suite = toy_suite(["full", "grow-later(mib=600)"], extra='memory_limit = "900MiB"')
    results = tmp_path / "results"
    invoke("run", "--suite", suite, "--results", results)
    by_label = {r["config"]["method_label"]: r for r in _records(results)}
    grow = by_label["grow-later(mib=600)"]
    assert grow["memory"]["search"]["trials"][0]["fits"]  # the probe fitted...
    assert grow["status"] == "over-budget"  # ...but the run's measured peak did not
    assert by_label["full"]["status"] == "ok"


def _toy_bundle(toy, preset):
    return toy.ToyModel(preset).build(torch.device("cpu"))


def test_cuda_style_out_of_memory_means_does_not_fit(toy):
    """A capped GPU raises torch.cuda.OutOfMemoryError: the search takes it as 'does not fit'."""
    bundle = _toy_bundle(toy, "oom-above-2")
    examples = toy.ToyData().load().train
    search = fit_memory.search_micro_batch(bundle, examples, Budget(effective_batch=8, micro_batch=8,
                                                                memory_limit_bytes=2**40))
    assert search["seconds"] < 5 and search["probe"]["gradients"] == 15 * 4
    assert search["micro_batch"] == 2
    assert [(t["micro_batch"], t["fits"], t.get("out_of_memory", False)) for t in search["trials"]] == [
        (8, False, True), (4, False, True), (2, True, False)]
    assert all(p.grad is None for p in bundle.model.parameters())  # the probes leave nothing behind


def test_probe_step_changes_no_weight_or_buffer_and_leaves_no_state(toy):
    bundle = _toy_bundle(toy, "small")
    bundle.model = torch.nn.Sequential(torch.nn.BatchNorm1d(4), bundle.model)  # running statistics
    state = {k: v.detach().clone() for k, v in bundle.model.state_dict().items()}
    examples = toy.ToyData().load().train
    probe = fit_memory.probe_step(bundle, [bundle.collate(examples[i:i + 4]) for i in (0, 4)], weight_decay=0.1)
    assert all(torch.equal(state[k], v) for k, v in bundle.model.state_dict().items())
    assert all(p.grad is None for p in bundle.model.parameters())
    assert probe["weights"] == 23 * 4 + 8 * 4 + 8 and probe["gradients"] == 23 * 4  # + running stats, int64 count
    assert probe["optimizer"] >= 2 * 23 * 4
    assert probe["peak_rss"] > probe["peak_allocated"] >= probe["weights"] + probe["gradients"] + probe["optimizer"]


def test_out_of_memory_without_a_limit_is_a_failure_not_a_finding(toy, toy_suite, tmp_path):
    result = invoke("run", "--suite", toy_suite(["full"]), "--models", "toy:oom-above-2", "--results", tmp_path)
    assert result.exit_code == 1
    record = _records(tmp_path)[0]
    assert record["status"] == "failed" and "set a memory_limit" in record["error"]


def test_evaluation_halves_its_batch_after_out_of_memory(toy):
    from benchhub.pipeline import predict_within_memory

    bundle = _toy_bundle(toy, "small")
    seen = []
    plain = bundle.predict

    def predict(examples, batch_size):
        seen.append(batch_size)
        if batch_size > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return plain(examples, batch_size)

    bundle.predict = predict
    predictions, used = predict_within_memory(bundle, toy.ToyData().load().eval, 64)
    assert used == 8 and seen == [64, 32, 16, 8] and len(predictions) == 24


def test_not_out_of_memory_errors_propagate(toy):
    bundle = _toy_bundle(toy, "small")

    def boom(batch):
        raise ValueError("a real bug")

    bundle.loss_sum = boom
    with pytest.raises(ValueError, match="a real bug"):
        fit_memory.search_micro_batch(bundle, toy.ToyData().load().train, Budget(effective_batch=8, micro_batch=8,
                                                                                   memory_limit_bytes=2**40))
