"""What to run: the component syntax `name(key=value,...)` and the resolved RunSpec with its run id."""
import pytest

from benchhub.budget import Budget
from benchhub.errors import UserError
from benchhub.spec import ComponentSpec, RunSpec, parse_component, parse_component_list


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
    assert RunSpec.from_config(spec.config()) == spec


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
