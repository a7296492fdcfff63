import pytest

from benchhub.errors import UserError
from benchhub.records import Budget, ComponentSpec, RunSpec, parse_memory, run_spec_from_config
from benchhub.suite import parse_component, parse_component_list


@pytest.mark.parametrize("text,expected", [
    ("24GiB", 24 * 2**30), ("512MiB", 512 * 2**20), ("80GB", 80 * 10**9), ("1.5g", int(1.5 * 2**30)),
    ("1024", 1024), (4096, 4096), ("none", None), (None, None),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "24 parsecs", "-1GiB", "0", "GiB"])
def test_parse_memory_rejects(text):
    with pytest.raises(UserError, match="memory limit"):
        parse_memory(text)


def test_budget_arithmetic():
    b = Budget(effective_batch=32, micro_batch=8, max_steps=100)
    assert b.grad_accum_steps == 4
    assert b.total_steps(1000) == 100
    epochs = Budget(effective_batch=32, micro_batch=32, max_steps=None, max_epochs=2)
    assert epochs.total_steps(160) == 10
    both = Budget(effective_batch=10, micro_batch=5, max_steps=7, max_epochs=2)
    assert both.total_steps(100) == 7  # whichever limit comes first


@pytest.mark.parametrize("kwargs,message", [
    ({"effective_batch": -4}, "effective-batch must be a positive integer"),
    ({"micro_batch": 0}, "micro-batch must be a positive integer"),
    ({"effective_batch": 16, "micro_batch": 5}, "micro-batch 5 does not divide effective batch 16; choose one of 1, 2, 4, 8, 16"),
    ({"max_steps": None, "max_epochs": None}, "max_steps or max_epochs"),
    ({"max_steps": -3}, "max-steps must be a positive integer"),
    ({"lr_schedule": "cosin"}, "unknown lr_schedule 'cosin'"),
    ({"max_seconds": float("nan")}, "max-seconds must be a positive number"),
])
def test_budget_rejects(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        Budget(**kwargs)


def _spec(**changes):
    base = dict(suite="s", method=ComponentSpec("lora", {"r": 8, "alpha": 16}), model=ComponentSpec("blip2:tiny"),
                dataset=ComponentSpec("shapes", {"train_size": 10}), metrics=("coco-caption",),
                budget=Budget(), seed=0, lr=1e-3)
    base.update(changes)
    return RunSpec(**base)


ENV = {"versions": {"torch": "2.13.0"}, "device": "cpu"}


def test_config_hash_is_stable_and_order_free():
    a = _spec()
    b = _spec(method=ComponentSpec("lora", {"alpha": 16, "r": 8}))
    assert a.config_hash(ENV) == b.config_hash(ENV)
    assert len(a.config_hash(ENV)) == 16


@pytest.mark.parametrize("change", [
    {"seed": 1}, {"lr": 2e-3}, {"budget": Budget(micro_batch=8)}, {"method": ComponentSpec("lora", {"r": 4})},
    {"dataset": ComponentSpec("shapes", {"train_size": 11})}, {"model": ComponentSpec("blip2:other")},
])
def test_config_hash_changes_with_config(change):
    assert _spec().config_hash(ENV) != _spec(**change).config_hash(ENV)


def test_config_hash_changes_with_environment():
    assert _spec().config_hash(ENV) != _spec().config_hash({**ENV, "device": "NVIDIA H100"})
    assert _spec().config_hash(ENV) != _spec().config_hash({**ENV, "versions": {"torch": "2.14.0"}})


def test_run_spec_round_trips_through_config():
    spec = _spec()
    assert run_spec_from_config(spec.config()) == spec


def test_component_syntax():
    assert parse_component("lora(r=8,alpha=16)") == ComponentSpec("lora", {"r": 8, "alpha": 16})
    assert parse_component("lora(target_modules=all-linear, lr=5e-3)").options == {
        "target_modules": "all-linear", "lr": 5e-3}
    assert parse_component('lora(target_modules=["q_proj","v_proj"])').options == {
        "target_modules": ["q_proj", "v_proj"]}
    assert [c.name for c in parse_component_list("lora(r=8,alpha=16),full, zero-shot")] == [
        "lora", "full", "zero-shot"]
    assert ComponentSpec("lora", {"r": 8, "alpha": 16}).label() == "lora(alpha=16,r=8)"


@pytest.mark.parametrize("text", ["lora(r=8", "lora(r)", "(r=8)", "lo)ra"])
def test_component_syntax_errors(text):
    with pytest.raises(UserError):
        parse_component_list(text)


@pytest.mark.parametrize("options", [
    {"meteor": False}, {"head": True, "k": 1}, {"target_modules": ["q_proj", "v_proj"]},
    {"target_modules": "all-linear"}, {"lr": 5e-3}, {"name": "two words"}, {"flag": "true"},
])
def test_component_labels_parse_back_to_the_same_options(options):
    label = ComponentSpec("m", options).label()
    assert parse_component(label) == ComponentSpec("m", options), label
