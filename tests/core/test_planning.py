"""`benchhub plan`'s estimates against measured training steps of the offline presets."""
import pytest
import torch

from benchhub import plugins
from benchhub.budget import Budget
from benchhub.fit_memory import heaviest_micro_batches, probe_step
from benchhub.memory import tensor_memory
from benchhub.planning import PairPlan
from benchhub.spec import parse_component
from benchhub.testing import BUILTIN_MODELS
from benchhub.train import train_loop

DATA = {"blip2": ("shapes", {"domain": "target", "train_size": 64, "eval_size": 8}),
        "vit": ("digits", {}),
        "vit-gpt2": ("shapes", {"domain": "target", "train_size": 64, "eval_size": 8})}
METHODS = ["full", "lora", "lora(target_modules=all-linear)", "frozen-top(k=1,head=true)", "domain-head", "qlora"]
PAIRS = [(m, x) for m in DATA for x in METHODS] + [("blip2", x) for x in ("dora", "ia3", "lora-int8")]


def _preset(model_name):
    """The tiny preset's architecture, pre-trained briefly as benchhub.testing does it (one shared cached
    checkpoint per test session): memory does not depend on how long the weights were pre-trained."""
    name, options, _ = BUILTIN_MODELS[model_name]
    return plugins.registry().create("model", name, **options)


def _method(label):
    spec = parse_component(label)
    return plugins.registry().create("method", spec.name, **spec.options)


def _prepared(model_name, method_label):
    """The preset's bundle with the method applied, and training examples, as a run builds them."""
    from benchhub.quantization import keep_trainable

    registry = plugins.registry()
    model = _preset(model_name)
    method = _method(method_label)
    quantization = method.quantization
    bundle = model.build(torch.device("cpu"), quantization=quantization)
    if quantization:
        keep_trainable(bundle.model)
    bundle.total_steps = 100
    torch.manual_seed(0)
    bundle = method.prepare(bundle) or bundle
    name, options = DATA[model_name]
    return model, bundle, registry.create("dataset", name, **options).load(seed=0).train


def _text_tokens(bundle, batch) -> int:
    if "input_ids" in batch:  # BLIP-2: image tokens, then text
        return batch["input_ids"].shape[1] - bundle.base_model().config.num_query_tokens
    return batch["labels"].shape[1] if batch["labels"].dim() > 1 else 1


def _measured(model_name, method_label, micro_batch=16):
    """One real training step of the preset on real data, measured as every run measures it."""
    model, bundle, examples = _prepared(model_name, method_label)
    batches = heaviest_micro_batches(bundle, examples, 16, micro_batch)
    return model, probe_step(bundle, batches), max(_text_tokens(bundle, b) for b in batches)


@pytest.mark.parametrize("model_name,method_label", PAIRS)
def test_plan_estimate_is_within_10_percent_of_the_measured_peak(model_name, method_label):
    model, measured, text_tokens = _measured(model_name, method_label)
    plan = PairPlan(model, _method(method_label), text_tokens=text_tokens, precision="fp32", effective_batch=16)
    estimate = plan.step(16)
    assert estimate["peak_allocated"] == pytest.approx(measured["peak_allocated"], rel=0.10), (estimate, measured)
    assert estimate["weights"] == pytest.approx(measured["weights"], rel=0.10)
    assert estimate["gradients"] == measured["gradients"] and estimate["optimizer"] == measured["optimizer"]


def test_plan_fits_picks_the_largest_micro_batch_under_the_limit():
    registry = plugins.registry()
    plan = PairPlan(registry.create("model", "vit"), _method("lora"), precision="fp32",
                    effective_batch=16)
    at = {m: plan.step(m)["peak_allocated"] for m in (16, 8, 4, 2, 1)}
    assert at[16] > at[8] > at[4] > at[2] > at[1]  # activations grow with the micro-batch
    limit = (at[4] + at[8]) // 2
    assert plan.fits(limit, 16) == (4, plan.step(4))
    assert plan.fits(at[1] - 1, 16)[0] is None  # not even one example
    assert plan.fits(at[16], 16)[0] == 16 and plan.fits(at[16], 8)[0] == 8  # the budget's cap


@pytest.mark.parametrize("model_name,method_label", [("blip2", "full"), ("blip2", "lora"), ("vit", "full")])
def test_plan_with_accumulation_matches_the_measured_step(model_name, method_label):
    model, measured, text_tokens = _measured(model_name, method_label, micro_batch=4)  # 4 micro-batches
    plan = PairPlan(model, _method(method_label), text_tokens=text_tokens, precision="fp32", effective_batch=16)
    assert plan.step(4)["peak_allocated"] == pytest.approx(measured["peak_allocated"], rel=0.10)


@pytest.mark.parametrize("method_label,micro_batch", [("full", 16), ("full", 4), ("lora", 8)])
def test_the_probe_step_measures_the_peak_of_real_training(method_label, micro_batch):
    """The probe (what limits are enforced on) against tensors tracked through real optimizer steps."""
    _, bundle, examples = _prepared("blip2", method_label)
    probe = probe_step(bundle, heaviest_micro_batches(bundle, examples, 16, micro_batch))
    tracker = tensor_memory()
    tracker.track(*bundle.model.parameters(), *bundle.model.buffers())
    with tracker:
        train_loop(bundle, examples, Budget(effective_batch=16, micro_batch=micro_batch, max_steps=4), 1e-3, 0)
    assert tracker.peak == pytest.approx(probe["peak_allocated"], rel=0.10), (tracker.peak, probe)


def test_the_frozen_bf16_policy_holds_frozen_weights_in_bf16_and_trains_in_fp32():
    """On CPU with bf16 tensors: the policy's placement of dtypes, a training step under it, and `plan`
    following the same policy (issue 14)."""
    from benchhub.device import apply_precision, autocast, resolve_precision
    from benchhub.train import accumulate_gradients

    model, bundle, examples = _prepared("blip2", "lora")
    assert resolve_precision(None, torch.device("cpu")) == "fp32"
    full_bytes = sum(p.numel() * 4 for p in bundle.model.parameters())
    by_dtype = apply_precision(bundle.model, "frozen-bf16")
    trainable = [p for p in bundle.model.parameters() if p.requires_grad]
    frozen = [p for p in bundle.model.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    assert by_dtype == {"float32": sum(p.numel() * 4 for p in trainable),
                        "bfloat16": sum(p.numel() * 2 for p in frozen)}
    assert sum(by_dtype.values()) < 0.6 * full_bytes
    bundle.precision = "frozen-bf16"
    assert isinstance(autocast(bundle.device, "frozen-bf16"), torch.autocast)
    batches = heaviest_micro_batches(bundle, examples, 8, 4)
    loss, tokens = accumulate_gradients(bundle, batches)
    assert torch.isfinite(torch.tensor(loss)) and tokens > 0
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in trainable)
    plans = {p: PairPlan(_preset("blip2"), _method("lora"), precision=p) for p in ("bf16-mixed", "frozen-bf16")}
    mixed, frozen_plan = (plans[p].static()["weights_bytes"] for p in ("bf16-mixed", "frozen-bf16"))
    assert frozen_plan == sum(by_dtype.values()) and mixed == full_bytes
