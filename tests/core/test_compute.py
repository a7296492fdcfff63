"""Compute: FLOPs of a training step, peak FLOP/s, MFU."""
import json
import types

import pytest
import torch
from cli_helpers import invoke
from cli_helpers import records as _records

from benchhub import compute


def _toy_bundle(toy, preset):
    return toy.ToyModel(preset).build(torch.device("cpu"))


def test_step_flops_match_the_matmul_count(toy):
    # Linear(4, 3): forward 2·b·4·3 FLOPs, and as many for the weight's gradient (the input needs none)
    bundle = _toy_bundle(toy, "small")
    batch = bundle.collate(toy.ToyData().load().train[:8])
    assert compute.step_flops(bundle, [batch]) == 2 * 2 * 8 * 4 * 3
    halves = [bundle.collate(toy.ToyData().load().train[i:i + 4]) for i in (0, 4)]
    assert compute.step_flops(bundle, halves) == 2 * 2 * 8 * 4 * 3  # accumulation: the same work
    assert all(p.grad is None for p in bundle.model.parameters())


def test_peak_flops_table_and_override(monkeypatch, tmp_path):
    assert compute.cuda_peak_flops("NVIDIA H100 80GB HBM3", bf16=True) == 989e12
    assert compute.cuda_peak_flops("NVIDIA H100 PCIe", bf16=True) == 756e12
    assert compute.cuda_peak_flops("NVIDIA H200", bf16=False) == 67e12
    assert compute.cuda_peak_flops("NVIDIA A100-SXM4-80GB", bf16=True) == 312e12
    assert compute.cuda_peak_flops("NVIDIA A10G", bf16=True) is None  # not the A10: unknown, not guessed
    assert compute.cuda_peak_flops("NVIDIA L40S", bf16=True) == 362e12
    cuda = types.SimpleNamespace(type="cuda")
    monkeypatch.setattr(compute, "bf16_supported", lambda: False)  # V100: bf16 only emulated
    assert compute.peak_flops(cuda, "Tesla V100-SXM2-32GB") == (15.7e12, "data sheet, dense fp32")
    monkeypatch.setattr(compute, "bf16_supported", lambda: True)
    assert compute.peak_flops(cuda, "NVIDIA H200")[0] == 989e12
    assert compute.peak_flops(cuda, "NVIDIA B200")[0] is None  # unknown: no MFU rather than a guess
    monkeypatch.setenv("BENCHHUB_PEAK_FLOPS", "1e12")
    assert compute.peak_flops(torch.device("cpu"), "CPU x") == (1e12, "BENCHHUB_PEAK_FLOPS")
    monkeypatch.delenv("BENCHHUB_PEAK_FLOPS")
    monkeypatch.setenv("BENCHHUB_CACHE", str(tmp_path))
    peak, source = compute.peak_flops(torch.device("cpu"), "CPU x")
    assert peak > 1e9 and "measured" in source  # any CPU does > 1 GFLOP/s on a 1024³ matmul
    stored = json.loads((tmp_path / "machine" / "cpu-peak-flops.json").read_text())
    assert list(stored.values()) == [peak]  # measured once per machine, then read back
    assert compute.peak_flops(torch.device("cpu"), "CPU x")[0] == peak


def test_runs_record_flops_and_mfu(toy, toy_suite, tmp_path):
    invoke("run", "--suite", toy_suite(["full"]), "--results", tmp_path)
    compute = _records(tmp_path)[0]["compute"]
    assert compute["flops_per_step"] == 2 * 2 * 8 * 4 * 3  # effective batch 8 through Linear(4, 3)
    assert 0 < compute["mfu"] < 1
    assert compute["achieved_flops_per_second"] == pytest.approx(compute["mfu"] * compute["peak_flops_per_second"])


def test_quantized_matmuls_are_counted_like_the_ones_they_replace():
    """bitsandbytes' 4-bit and int8 kernels are custom ops: counted by their shapes, not skipped."""
    from benchhub import plugins
    from benchhub.quantization import keep_trainable

    from benchhub.testing import BUILTIN_MODELS

    registry = plugins.registry()
    name, options, _ = BUILTIN_MODELS["blip2"]  # the tiny preset, briefly pre-trained (FLOPs do not depend on it)
    model = registry.create("model", name, **options)
    examples = registry.create("dataset", "shapes", domain="target", train_size=16, eval_size=4).load(seed=0).train
    flops = {}
    for name in ("lora", "qlora", "lora-int8"):
        method = registry.create("method", name, target_modules="all-linear", r=8)
        quantization = method.quantization
        assert (quantization is None) == (name == "lora") and quantization in (None, *model.quantizations)
        bundle = model.build(torch.device("cpu"), quantization=quantization)
        keep_trainable(bundle.model)
        bundle.total_steps = 10
        bundle = method.prepare(bundle) or bundle
        flops[name] = compute.step_flops(bundle, [bundle.collate(examples)])
    assert flops["qlora"] == flops["lora-int8"] == flops["lora"] > 0
