"""benchhub.testing: the fixtures a plugin author enables with `pytest_plugins = ["benchhub.testing"]`."""
import pytest
import torch

import benchhub
from benchhub import testing
from benchhub.errors import RunFailure
from benchhub_plugins.methods.full import Full
from benchhub_plugins.methods.frozen_top import FrozenTop
from benchhub_plugins.methods.lora import Lora

pytest_plugins = ["benchhub.testing"]

# what each built-in model's components are, and which of them its output tower is
OUTPUT_TOWER = {"blip2": "language", "vit": "vision", "vit-gpt2": "language"}


@pytest.mark.parametrize("model", sorted(testing.BUILTIN_MODELS))
def test_tiny_bundle_builds_every_builtin_model(model, tiny_bundle):
    bundle = tiny_bundle(model)
    assert isinstance(bundle, benchhub.Bundle)
    assert all(isinstance(c, torch.nn.Module) for c in bundle.components().values())
    assert bundle.output_tower == OUTPUT_TOWER[model]
    trainable, total = bundle.parameter_counts()
    assert total > 0


@pytest.mark.parametrize("model", sorted(testing.BUILTIN_MODELS))
def test_train_method_trains_and_moves_only_what_the_method_unfroze(model, train_method, assert_trains_only):
    trained = train_method(FrozenTop(k=1), model=model, steps=2, lr=1e-2)
    assert trained.stats.steps == 2
    assert_trains_only(trained.bundle, OUTPUT_TOWER[model])


def test_train_method_full_changes_weights(train_method, tiny_bundle):
    before = {n: p.detach().clone() for n, p in tiny_bundle("vit").model.named_parameters()}
    trained = train_method(Full(), model="vit", steps=2, lr=1e-2)
    moved = [n for n, p in trained.bundle.model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert len(moved) == len(before)


def test_assert_trains_only_fails_on_a_wrong_claim(train_method, assert_trains_only):
    trained = train_method(Lora(r=2), model="vit", steps=1)
    assert_trains_only(trained.bundle, "vision", "head")  # adapters in the ViT, the labelled head trains too
    with pytest.raises(AssertionError, match="trainable components"):
        assert_trains_only(trained.bundle, "vision")


def test_train_method_checks_freezing_promises(train_method):
    class Liar(benchhub.Method):
        name = "liar"
        freezes = ("vision",)

        def prepare(self, bundle):
            bundle.model.requires_grad_(True)
            return bundle

    with pytest.raises(RunFailure, match="claims to freeze 'vision'"):
        train_method(Liar(), model="vit", steps=1)


def test_plain_class_methods_get_the_documented_defaults(train_method):
    class Plain:  # no base class: registration (here: train_method) fills the defaults in
        name = "plain"

        def prepare(self, bundle):
            bundle.model.requires_grad_(True)
            return bundle

    trained = train_method(Plain(), model="vit", steps=1)
    assert Plain.default_lr == benchhub.Method.default_lr and Plain.trains is True
    assert trained.stats.steps == 1
