"""ViT classification on scikit-learn's digits: data, metric, presets (local and offline hub), methods."""
import json
import random

import pytest
import torch
from click.testing import CliRunner

from benchhub.cli import cli
from benchhub.errors import RunFailure
from benchhub_plugins.datasets.digits import Digits
from benchhub_plugins.metrics.classification import Classification
from benchhub_plugins.models.vit import TINY_RECIPE, Vit, VitBundle, build_tiny

SMALL = {**TINY_RECIPE, "hidden": 32, "layers": 2, "heads": 2, "ffn": 64}


def test_digits_domains_and_fixed_disjoint_splits():
    a, b = Digits(train_size=100, eval_size=50).load(seed=0), Digits(train_size=100, eval_size=50).load(seed=3)
    assert [e["label"] for e in a.train] == [e["label"] for e in b.train]  # the split ignores the run seed
    assert {e["label"] for e in a.train + a.eval} == {5, 6, 7, 8, 9}
    assert not {id(e) for e in a.train} & {id(e) for e in a.eval}
    assert a.eval[0]["image"].size == (32, 32) and a.info["labels"] == ["5", "6", "7", "8", "9"]
    source = Digits(domain="source", train_size=10, eval_size=10).load()
    assert {e["label"] for e in source.train + source.eval} <= {0, 1, 2, 3, 4}
    with pytest.raises(RunFailure, match="digits target has"):
        Digits(train_size=5000).load()


def test_classification_metric_matches_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    rng = random.Random(0)
    truth = [str(rng.randint(5, 9)) for _ in range(200)]
    preds = [t if rng.random() < 0.6 else str(rng.randint(0, 9)) for t in truth]
    scores = Classification().compute(preds, [[t] for t in truth])
    assert scores["accuracy"] == pytest.approx(accuracy_score(truth, preds))
    assert scores["macro-F1"] == pytest.approx(f1_score(truth, preds, average="macro"))


def _save_tiny(path):
    model, processor = build_tiny(SMALL, seed=1)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return model


def test_local_directory_preset_loads_exactly(tmp_path):
    saved = _save_tiny(tmp_path / "ckpt")
    bundle = Vit(preset=str(tmp_path / "ckpt")).build(torch.device("cpu"))
    example = Digits(train_size=4, eval_size=4).load().eval[:2]
    pixels = bundle._pixels(example)
    saved.eval()
    with torch.no_grad():
        assert torch.equal(bundle.model(pixel_values=pixels).logits, saved(pixel_values=pixels).logits)
    assert bundle.check_image_conditioning(example[0]) > 0


def test_local_preset_with_a_new_label_set(tmp_path):
    _save_tiny(tmp_path / "ckpt")
    bundle = Vit(preset=str(tmp_path / "ckpt"), num_labels=3).build(torch.device("cpu"))
    assert bundle.head().out_features == 3


def test_unavailable_presets_fail_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RunFailure) as info:
        Vit(preset="base").build(torch.device("cpu"))
    assert ("cannot load 'google/vit-base-patch16-224': it is not a local directory, not in the local Hugging "
            "Face cache, and the Hub is unreachable") in str(info.value) and "\n" not in str(info.value)
    assert "HF_HUB_OFFLINE=1" in str(info.value)  # the setting that decides hub access is named


@pytest.mark.parametrize("preset,needle", [
    ("/nonexistent/ckpt", "vit: preset '/nonexistent/ckpt' is not a directory"),
    ("huge", "unknown vit preset 'huge'"),
])
def test_presets_that_cannot_exist_are_refused_before_anything_runs(preset, needle):
    from benchhub.errors import UserError

    with pytest.raises(UserError, match=needle):
        Vit(preset=preset)


def test_vit_bundle_structure_for_methods():
    from benchhub_plugins.methods.frozen_top import FrozenTop
    from benchhub_plugins.methods.lora import Lora

    model, processor = build_tiny(SMALL)
    bundle = VitBundle(model, processor, torch.device("cpu"))
    FrozenTop(k=1, head=True).prepare(bundle)  # default tower of a ViT: vision
    manifest = bundle.manifest()
    assert 0 < manifest["vision"]["trainable"] < manifest["vision"]["total"]
    assert manifest["head"]["trainable"] == manifest["head"]["total"]
    from benchhub_plugins.methods.lora import default_targets, trained_heads

    model, processor = build_tiny(SMALL)
    bundle = VitBundle(model, processor, torch.device("cpu"))
    assert bundle.output_tower == "vision" and bundle.blocks() == bundle.blocks("vision")
    assert default_targets(bundle) == [name for name, _ in model.named_modules()
                                       if name.rsplit(".", 1)[-1] in ("q_proj", "v_proj")]
    assert trained_heads(bundle) == ["classifier"]
    bundle = Lora().prepare(bundle)
    manifest = bundle.manifest()
    assert manifest["head"]["trainable"] > 0  # the classifier trains beside the adapters (new labels)
    with pytest.raises(RunFailure, match="VitBundle has towers vision, not 'language'"):
        bundle.blocks("language")


def test_vit_digits_suite_end_to_end(fresh_plugins, tmp_path):
    results = tmp_path / "results"
    result = CliRunner().invoke(cli, ["run", "--suite", "vit-digits", "--methods", "zero-shot,lora,domain-head",
                                      "--max-steps", "20", "--results", str(results)])
    assert result.exit_code == 0, result.output
    records = {json.loads(p.read_text())["config"]["method"]["name"]: json.loads(p.read_text())
               for p in (results / "vit-digits").glob("*__*.json")}
    assert records["zero-shot"]["metrics"]["accuracy"] == 0.0  # never saw the labels 5–9
    assert records["lora"]["metrics"]["accuracy"] > 0.3
    assert records["domain-head"]["parameters"]["manifest"]["vision"]["trainable"] == 0
    assert "accuracy ↑" in (results / "vit-digits" / "leaderboard.md").read_text()


def test_labels_beyond_the_classifier_fail_clearly():
    model, processor = build_tiny({**SMALL, "num_labels": 5})
    bundle = VitBundle(model, processor, torch.device("cpu"))
    with pytest.raises(RunFailure, match="label 9 but the classifier has 5 outputs"):
        bundle.collate([{"image": e["image"], "label": 9} for e in Digits(train_size=2, eval_size=1).load().train])
