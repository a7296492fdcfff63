"""The plugin guide's examples run, on every built-in model they claim to support."""
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchhub import testing

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md").read_text()
EXAMPLES = dict(re.findall(r"<!-- example: (.*?) -->\n```python\n(.*?)```", GUIDE, re.S))
METHOD_CLAIM = next(k for k in EXAMPLES if k.startswith("method "))
TEST_EXAMPLE = EXAMPLES["test of top-k"]


def _method_module():
    module = types.ModuleType("benchhub_topk")
    exec(compile(EXAMPLES[METHOD_CLAIM], "docs/writing-plugins.md", "exec"), module.__dict__)
    return module


def _claimed_models() -> list[str]:
    return [m.strip() for m in re.search(r" on (.*?) trains", METHOD_CLAIM).group(1).split(",")]


def test_the_guide_has_its_examples():
    assert METHOD_CLAIM.startswith("method top-k(k=1) on ")
    assert set(_claimed_models()) == set(testing.BUILTIN_MODELS)  # it claims every built-in model
    assert len(EXAMPLES[METHOD_CLAIM].strip().splitlines()) < 30


@pytest.mark.parametrize("model", _claimed_models())
def test_guide_method_example_runs_on_every_model_it_claims(model):
    top_k = _method_module().TopK(k=1)
    trained = testing.train_method(top_k, model=model, steps=2)
    assert trained.stats.steps == 2
    bundle = trained.bundle
    testing.assert_trains_only(bundle, bundle.output_tower, "head")
    top = bundle.blocks()[-1]
    assert all(p.requires_grad for p in top.parameters())
    if len(bundle.blocks()) > 1:
        assert not any(p.requires_grad for p in bundle.blocks()[0].parameters())
    assert set(top_k.freezes) == set(bundle.components()) - {bundle.output_tower, "head"}


@pytest.mark.slow
def test_guide_test_example_passes_under_pytest(tmp_path):
    (tmp_path / "benchhub_topk.py").write_text(EXAMPLES[METHOD_CLAIM])
    (tmp_path / "test_topk.py").write_text(TEST_EXAMPLE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 passed" in out.stdout


def test_guide_augmentation_example_registers_and_runs(fresh_plugins):
    """The guide's augmentation plugin: it registers through its hook, is allowed on shapes, blurs images
    deterministically per step and keeps the captions."""
    from benchhub import plugins
    from benchhub.augment import Augmenter, conflicts

    module = types.ModuleType("benchhub_blur")
    exec(compile(EXAMPLES["augmentation blur"], "docs/writing-plugins.md", "exec"), module.__dict__)
    plugins.pm.register(module, name="benchhub_blur")
    plugins.reset()
    try:
        registry = plugins.registry()
        blur = registry.create("augmentation", "blur", p=1.0)
        shapes = registry.create("dataset", "shapes", train_size=8, eval_size=2, validation_size=2, source_size=2)
        assert conflicts(type(blur), "blur", type(shapes), "shapes") is None
        train = shapes.load(seed=0).train
        out = Augmenter(blur, shapes, seed=0)(train, step=1)
        assert [ex["text"] for ex in out] == [ex["text"] for ex in train]
        assert [ex["image"].tobytes() for ex in out] != [ex["image"].tobytes() for ex in train]
        again = Augmenter(blur, shapes, seed=0)(train, step=1)
        assert [ex["image"].tobytes() for ex in again] == [ex["image"].tobytes() for ex in out]
    finally:
        plugins.pm.unregister(name="benchhub_blur")
        plugins.reset()
