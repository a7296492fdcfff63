"""Test helpers for plugin authors: `pytest_plugins = ["benchhub.testing"]` in your conftest.py.

Fixtures (each also a plain function of this module):
- `tiny_bundle(model="blip2", quantization=None)`: a built-in model's tiny preset, built on CPU
  (pre-trained briefly, once per test session, in a temporary model cache);
- `train_method(method, model="blip2", steps=3)`: the method applied to that bundle and trained
  for a few optimizer steps with benchhub's own loop, after the checks every run passes;
- `assert_trains_only(bundle, *components)`: exactly these components have trainable parameters.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

#: built-in models: the tiny preset with a short pre-training, and a small dataset of a task it supports
BUILTIN_MODELS = {
    "blip2": ("blip2:tiny", {"pretrain_steps": 20, "pretrain_images": 64}, "shapes"),
    "vit": ("vit:tiny", {"pretrain_steps": 20}, "digits"),
    "vit-gpt2": ("vit-gpt2:tiny", {"pretrain_steps": 20, "pretrain_images": 64}, "shapes"),
}
DATA_SIZES = {"train_size": 32, "eval_size": 8}


@dataclass
class Trained:
    """What `train_method` returns: the adapted bundle and what the training loop reported."""

    bundle: object
    stats: object
    method: object


def _registry():
    from benchhub import plugins

    return plugins.registry()


def tiny_bundle(model: str = "blip2", quantization: str | None = None):
    """A built-in model's tiny preset on CPU (quantized base with "nf4" or "int8")."""
    import torch

    name, options, _ = BUILTIN_MODELS[model]
    plugin = _registry().create("model", name, **options)
    if not quantization:
        return plugin.build(torch.device("cpu"), seed=0)
    from benchhub.quantization import keep_trainable

    bundle = plugin.build(torch.device("cpu"), seed=0, quantization=quantization)
    keep_trainable(bundle.model)
    return bundle


def tiny_splits(model: str = "blip2"):
    """A few training and evaluation examples of a task the model supports."""
    return _registry().create("dataset", BUILTIN_MODELS[model][2], **DATA_SIZES).load(seed=0)


def train_method(method, model: str = "blip2", steps: int = 3, lr: float | None = None, seed: int = 0) -> Trained:
    """Apply `method` (an instance) to `tiny_bundle(model)` and train `steps` optimizer steps of 8 (2 × 4)."""
    import torch

    from benchhub.budget import Budget
    from benchhub.checks import check_promises
    from benchhub.components import complete
    from benchhub.train import train_loop

    complete("method", type(method))
    bundle = tiny_bundle(model, quantization=method.quantization)
    bundle.total_steps = steps
    torch.manual_seed(seed)
    bundle = method.prepare(bundle) or bundle
    check_promises(method, bundle, method.name)
    budget = Budget(effective_batch=8, micro_batch=4, max_steps=steps)
    stats = train_loop(bundle, tiny_splits(model).train, budget, method.default_lr if lr is None else lr, seed,
                       method=method)
    return Trained(bundle, stats, method)


def trainable_components(bundle) -> set[str]:
    return {name for name, counts in bundle.manifest().items() if counts["trainable"]}


def assert_trains_only(bundle, *components: str) -> None:
    """Exactly `components` (keys of bundle.components(), or "other") have trainable parameters."""
    trains = trainable_components(bundle)
    assert trains == set(components), (f"trainable components {sorted(trains)}, expected {sorted(components)}; "
                                       f"manifest {bundle.manifest()}")


@pytest.fixture(scope="session", autouse=True)
def _benchhub_model_cache(tmp_path_factory):
    """Tiny presets are pre-trained into a temporary cache, never into ~/.cache (unless BENCHHUB_CACHE is set)."""
    if os.environ.get("BENCHHUB_CACHE"):
        yield
        return
    os.environ["BENCHHUB_CACHE"] = str(tmp_path_factory.mktemp("benchhub-cache"))
    try:
        yield
    finally:
        os.environ.pop("BENCHHUB_CACHE", None)


@pytest.fixture(name="tiny_bundle")
def tiny_bundle_fixture():
    """`tiny_bundle(model="blip2", quantization=None)` -> a built-in model's tiny bundle on CPU."""
    return tiny_bundle


@pytest.fixture(name="train_method")
def train_method_fixture():
    """`train_method(method, model="blip2", steps=3)` -> Trained(bundle, stats, method)."""
    return train_method


@pytest.fixture(name="assert_trains_only")
def assert_trains_only_fixture():
    """`assert_trains_only(bundle, *components)`: exactly these components train."""
    return assert_trains_only
