"""`benchhub plan`'s estimates against measured training steps of the offline presets."""
import pytest
import torch

from benchhub import plugins
from benchhub.memory import probe_step
from benchhub.planning import PairPlan
from benchhub.suite import instantiate, parse_component

DATA = {"blip2": ("shapes", {"domain": "target", "train_size": 64, "eval_size": 8}),
        "vit": ("digits", {}),
        "vit-gpt2": ("shapes", {"domain": "target", "train_size": 64, "eval_size": 8})}
METHODS = ["full", "lora", "lora(target_modules=all-linear)", "frozen-top(k=1,head=true)", "domain-head", "qlora"]
PAIRS = [(m, x) for m in DATA for x in METHODS] + [("blip2", x) for x in ("dora", "ia3", "lora-int8")]


def _method(label):
    spec = parse_component(label)
    return instantiate(plugins.registry().get("method", spec.name), spec.name, spec.options)


def _measured(model_name, method_label, micro_batch=16):
    """One real training step of the preset on real data, measured as every run measures it."""
    from benchhub.quantization import keep_trainable

    registry = plugins.registry()
    model = instantiate(registry.get("model", model_name), model_name, {})
    method = _method(method_label)
    quantization = getattr(method, "quantization", None)
    bundle = model.build(torch.device("cpu"), **({"quantization": quantization} if quantization else {}))
    if quantization:
        keep_trainable(bundle.model)
    bundle.total_steps = 100
    torch.manual_seed(0)
    bundle = method.prepare(bundle) or bundle
    name, options = DATA[model_name]
    examples = registry.get("dataset", name)(**options).load(seed=0).train[:micro_batch]
    batch = bundle.collate(examples)
    if "input_ids" in batch:  # BLIP-2: image tokens, then text
        text_tokens = batch["input_ids"].shape[1] - bundle._base().config.num_query_tokens
    else:
        text_tokens = batch["labels"].shape[1] if batch["labels"].dim() > 1 else 1
    return model, probe_step(bundle, examples), text_tokens


@pytest.mark.parametrize("model_name,method_label", PAIRS)
def test_plan_estimate_is_within_10_percent_of_the_measured_peak(model_name, method_label):
    model, measured, text_tokens = _measured(model_name, method_label)
    plan = PairPlan(model, _method(method_label), text_tokens=text_tokens, precision="fp32")
    estimate = plan.step(16)
    assert estimate["peak_allocated"] == pytest.approx(measured["peak_allocated"], rel=0.10), (estimate, measured)
    assert estimate["weights"] == pytest.approx(measured["weights"], rel=0.10)
    assert estimate["gradients"] == measured["gradients"] and estimate["optimizer"] == measured["optimizer"]


def test_plan_fits_picks_the_largest_micro_batch_under_the_limit():
    registry = plugins.registry()
    plan = PairPlan(instantiate(registry.get("model", "vit"), "vit", {}), _method("lora"), precision="fp32")
    at = {m: plan.step(m)["peak_allocated"] for m in (16, 8, 4, 2, 1)}
    assert at[16] > at[8] > at[4] > at[2] > at[1]  # activations grow with the micro-batch
    limit = (at[4] + at[8]) // 2
    assert plan.fits(limit, 16, 16) == (4, plan.step(4))
    assert plan.fits(at[1] - 1, 16, 16)[0] is None  # not even one example
    assert plan.fits(at[16], 16, 16)[0] == 16 and plan.fits(at[16], 16, 8)[0] == 8  # the budget's cap
