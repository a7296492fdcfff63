"""Issue 24: the tiny presets the built-in suites run are shipped pre-trained with the package (every machine
starts from the same bytes, nobody waits for pre-training); a recipe a user changes is pre-trained and cached;
`benchhub prepare --rebuild` makes the shipped bytes again."""
import json
import shutil

import pytest

from cli_helpers import invoke

from benchhub import plugins
from benchhub.prepare import builtin_suites, suite_models


def _models():
    return suite_models(plugins.registry(), builtin_suites())


def test_every_tiny_model_of_the_builtin_suites_is_shipped_and_used():
    from benchhub.identity import files_sha256

    models = _models()
    assert {label.split("(")[0] for label, _ in models} == {"blip2:tiny", "vit:tiny"}
    for label, model in models:
        info = model.shipped()
        assert info is not None, f"{label} is not shipped: run benchhub prepare --rebuild"
        assert model.source() == str(model.shipped_dir())
        assert info["sha256"] == files_sha256(model.shipped_dir())
        assert model.checkpoint() == {"key": f"shipped:{model.shipped_dir().name}", "sha256": info["sha256"]}
        assert model.prepare(log=lambda m: pytest.fail(f"{label} pre-trained: {m}"))["checkpoint"] == model.source()
        assert info["recipe"] == model.recipe and info["made_with"]["cpu_capability"]
    # nothing stale ships: every checkpoint folder is one a built-in suite runs (when a recipe changes,
    # `benchhub prepare --rebuild` makes the new folder and its old one has to be deleted in the same commit)
    shipped = {p.name for p in models[0][1].shipped_dir().parent.iterdir() if p.is_dir()}
    assert shipped == {model.shipped_dir().name for _, model in models}


def test_a_changed_recipe_is_pre_trained_and_cached_not_the_shipped_one(tmp_path, monkeypatch):
    from benchhub_plugins.models.blip2 import Blip2

    monkeypatch.setenv("BENCHHUB_CACHE", str(tmp_path))
    model = Blip2(hidden=32, heads=2)
    assert model.shipped() is None and model.source() == str(model.checkpoint_dir())
    assert not model.checkpoint()["key"].startswith("shipped:")


def test_a_damaged_shipped_checkpoint_is_never_used(tmp_path, monkeypatch):
    from benchhub_plugins.models import loading
    from benchhub_plugins.models.vit import Vit

    shutil.copytree(loading.SHIPPED, tmp_path / "shipped")
    monkeypatch.setattr(loading, "SHIPPED", tmp_path / "shipped")
    monkeypatch.setattr(loading, "_SHIPPED_INFO", {})
    model = Vit()
    assert model.shipped() is not None
    weights = model.shipped_dir() / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(loading, "_SHIPPED_INFO", {})
    assert model.shipped() is None and model.source() == str(model.checkpoint_dir())


def test_prepare_says_where_each_model_comes_from():
    result = invoke("prepare", "--suite", "tiny")
    assert result.exit_code == 0, result.output
    assert "blip2:tiny(ffn=128,hidden=64,pretrain_images=256,pretrain_steps=600): shipped with the package" \
        in result.output


@pytest.mark.slow
def test_rebuilding_a_shipped_checkpoint_gives_its_bytes_again(tmp_path, monkeypatch):
    """Pre-training is deterministic on a CPU instruction set (2 threads, fixed seeds): a rebuild of the ViT
    tiny preset (the quickest, ~5 s) hashes to the shipped sha256, on a machine like the one that made it."""
    from benchhub.identity import machine
    from benchhub_plugins.models import loading
    from benchhub_plugins.models.vit import Vit

    shipped = Vit().shipped()
    made_on = shipped["made_with"]["cpu_capability"]
    if machine()["cpu_capability"] != made_on:
        pytest.skip(f"the shipped checkpoints were made on {made_on}, this CPU is {machine()['cpu_capability']}: "
                    "float sums differ between instruction sets")
    shutil.copytree(loading.SHIPPED, tmp_path / "shipped")
    monkeypatch.setattr(loading, "SHIPPED", tmp_path / "shipped")
    monkeypatch.setattr(loading, "_SHIPPED_INFO", {})
    info = Vit().rebuild_shipped(log=lambda m: None)
    assert info["sha256"] == shipped["sha256"] and not info["changed"]
    assert json.loads((Vit().shipped_dir() / "checkpoint.json").read_text())["sha256"] == shipped["sha256"]
