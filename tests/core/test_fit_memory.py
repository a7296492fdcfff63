"""Enforced memory budgets (micro-batch search, does-not-fit), the memory split, FLOPs and MFU."""
import json
import types

import pytest
import torch

from benchhub import memory
from benchhub.records import Budget
from test_cli import _records, invoke

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
    assert "skipped toy · full" in again.output
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
    search = memory.search_micro_batch(bundle, examples, Budget(effective_batch=8, micro_batch=8,
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
    probe = memory.probe_step(bundle, [bundle.collate(examples[i:i + 4]) for i in (0, 4)], weight_decay=0.1)
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
    from benchhub.runner import predict_within_memory

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
        memory.search_micro_batch(bundle, toy.ToyData().load().train, Budget(effective_batch=8, micro_batch=8,
                                                                               memory_limit_bytes=2**40))


def test_tensor_memory_counts_live_storages_once():
    tracker = memory.tensor_memory()
    with tracker:
        a = torch.zeros(1024)  # 4 KiB
        view = a[:10]  # same storage: not counted again
        b = torch.ones(2048)  # 8 KiB
        del b
        c = torch.ones(256)  # 1 KiB
    assert tracker.peak == 4096 + 8192 and tracker.current == 4096 + 1024
    del a, view, c


def test_step_flops_match_the_matmul_count(toy):
    # Linear(4, 3): forward 2·b·4·3 FLOPs, and as many for the weight's gradient (the input needs none)
    bundle = _toy_bundle(toy, "small")
    batch = bundle.collate(toy.ToyData().load().train[:8])
    assert memory.step_flops(bundle, [batch]) == 2 * 2 * 8 * 4 * 3
    halves = [bundle.collate(toy.ToyData().load().train[i:i + 4]) for i in (0, 4)]
    assert memory.step_flops(bundle, halves) == 2 * 2 * 8 * 4 * 3  # accumulation: the same work
    assert all(p.grad is None for p in bundle.model.parameters())


def test_peak_flops_table_and_override(monkeypatch, tmp_path):
    assert memory.cuda_peak_flops("NVIDIA H100 80GB HBM3", bf16=True) == 989e12
    assert memory.cuda_peak_flops("NVIDIA H100 PCIe", bf16=True) == 756e12
    assert memory.cuda_peak_flops("NVIDIA H200", bf16=False) == 67e12
    assert memory.cuda_peak_flops("NVIDIA A100-SXM4-80GB", bf16=True) == 312e12
    assert memory.cuda_peak_flops("NVIDIA A10G", bf16=True) is None  # not the A10: unknown, not guessed
    assert memory.cuda_peak_flops("NVIDIA L40S", bf16=True) == 362e12
    cuda = types.SimpleNamespace(type="cuda")
    monkeypatch.setattr(memory, "bf16_supported", lambda: False)  # V100: bf16 only emulated
    assert memory.peak_flops(cuda, "Tesla V100-SXM2-32GB") == (15.7e12, "data sheet, dense fp32")
    monkeypatch.setattr(memory, "bf16_supported", lambda: True)
    assert memory.peak_flops(cuda, "NVIDIA H200")[0] == 989e12
    assert memory.peak_flops(cuda, "NVIDIA B200")[0] is None  # unknown: no MFU rather than a guess
    monkeypatch.setenv("BENCHHUB_PEAK_FLOPS", "1e12")
    assert memory.peak_flops(torch.device("cpu"), "CPU x") == (1e12, "BENCHHUB_PEAK_FLOPS")
    monkeypatch.delenv("BENCHHUB_PEAK_FLOPS")
    monkeypatch.setenv("BENCHHUB_CACHE", str(tmp_path))
    peak, source = memory.peak_flops(torch.device("cpu"), "CPU x")
    assert peak > 1e9 and "measured" in source  # any CPU does > 1 GFLOP/s on a 1024³ matmul
    stored = json.loads((tmp_path / "machine" / "cpu-peak-flops.json").read_text())
    assert list(stored.values()) == [peak]  # measured once per machine, then read back
    assert memory.peak_flops(torch.device("cpu"), "CPU x")[0] == peak


def test_runs_record_flops_and_mfu(toy, toy_suite, tmp_path):
    invoke("run", "--suite", toy_suite(["full"]), "--results", tmp_path)
    compute = _records(tmp_path)[0]["compute"]
    assert compute["flops_per_step"] == 2 * 2 * 8 * 4 * 3  # effective batch 8 through Linear(4, 3)
    assert 0 < compute["mfu"] < 1
    assert compute["achieved_flops_per_second"] == pytest.approx(compute["mfu"] * compute["peak_flops_per_second"])


def test_cuda_cap_is_the_limit_as_a_fraction(monkeypatch):
    calls = []
    fake_cuda = types.SimpleNamespace(
        get_device_properties=lambda device: types.SimpleNamespace(total_memory=80 * 2**30),
        set_per_process_memory_fraction=lambda fraction, device: calls.append((fraction, device)))
    monkeypatch.setattr(torch, "cuda", fake_cuda)
    device = types.SimpleNamespace(type="cuda")
    assert memory.cap_cuda_memory(device, 24 * 2**30) == pytest.approx(0.3)
    assert memory.cap_cuda_memory(device, 200 * 2**30) == 1.0
    assert memory.cap_cuda_memory(device, None) is None and len(calls) == 2


def test_quantized_matmuls_are_counted_like_the_ones_they_replace():
    """bitsandbytes' 4-bit and int8 kernels are custom ops: counted by their shapes, not skipped."""
    from benchhub import plugins
    from benchhub.quantization import keep_trainable
    from benchhub.suite import instantiate

    registry = plugins.registry()
    model = instantiate(registry.get("model", "blip2"), "blip2", {})
    examples = registry.get("dataset", "shapes")(domain="target", train_size=16, eval_size=4).load(seed=0).train
    flops = {}
    for name in ("lora", "qlora", "lora-int8"):
        method = instantiate(registry.get("method", name), name, {"target_modules": "all-linear", "r": 8})
        quantization = getattr(method, "quantization", None)
        bundle = model.build(torch.device("cpu"), **({"quantization": quantization} if quantization else {}))
        keep_trainable(bundle.model)
        bundle.total_steps = 10
        bundle = method.prepare(bundle) or bundle
        flops[name] = memory.step_flops(bundle, [bundle.collate(examples)])
    assert flops["qlora"] == flops["lora-int8"] == flops["lora"] > 0
