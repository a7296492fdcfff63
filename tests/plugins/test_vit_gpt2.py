"""ViT-GPT2 captioning and the shapes classification set."""
import json

import pytest
import torch
from click.testing import CliRunner

from benchhub.cli import cli
from benchhub.errors import RunFailure
from benchhub_plugins.datasets.shapes import Shapes, ShapesClassify
from benchhub_plugins.models.vit_gpt2 import TINY_RECIPE, VitGpt2, VitGpt2Bundle, build_tiny

SMALL = {**TINY_RECIPE, "hidden": 32, "heads": 2}


def _small_bundle():
    model, image_processor, tokenizer = build_tiny(SMALL)
    return VitGpt2Bundle(model, image_processor, tokenizer, torch.device("cpu"))


def test_collate_loss_and_conditioning():
    bundle = _small_bundle()
    examples = Shapes(train_size=4, eval_size=1).load().train
    batch = bundle.collate(examples)
    loss, tokens = bundle.loss_sum(batch)
    assert tokens == bundle.count_targets(batch) == sum(len(e["text"].split()) + 1 for e in examples)
    assert torch.isfinite(loss)
    assert bundle.check_image_conditioning(examples[0]) > 1e-6
    assert all(isinstance(p, str) for p in bundle.predict(examples))


def test_components_and_lora_targets():
    from benchhub_plugins.methods.lora import Lora, default_targets, trained_heads

    bundle = _small_bundle()
    # GPT-2 computes query and value in one fused projection: LoRA's default targets are the decoder's c_attn
    targets = default_targets(bundle)
    assert targets == [name for name, _ in bundle.model.named_modules()
                       if name.startswith("decoder.") and name.endswith("attn.c_attn")]
    assert len(targets) == len(bundle.blocks("language")) and trained_heads(bundle) is None
    bundle = Lora().prepare(bundle)
    manifest = bundle.manifest()
    assert manifest["vision"]["trainable"] == 0 and manifest["language"]["trainable"] > 0
    assert len(bundle.blocks("language")) == 2 and len(bundle.blocks("vision")) == 2


def test_local_directory_preset_round_trip(tmp_path):
    bundle = _small_bundle()
    bundle.save(tmp_path / "ckpt")
    loaded = VitGpt2(preset=str(tmp_path / "ckpt")).build(torch.device("cpu"))
    batch = bundle.collate(Shapes(train_size=2, eval_size=1).load().train)
    bundle.model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model(**batch).logits, bundle.model(**batch).logits)


def test_real_preset_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RunFailure, match="cannot load 'nlpconnect/vit-gpt2-image-captioning'"):
        VitGpt2(preset="nlpconnect").build(torch.device("cpu"))


def test_shapes_classify_labels():
    splits = ShapesClassify(train_size=40, eval_size=20).load()
    labels = {e["label"] for e in splits.train}
    assert labels <= {0, 1, 2, 3} and 3 in labels  # the star is a target-domain shape
    assert splits.info["labels"] == ["circle", "square", "triangle", "star"]


def test_vit_gpt2_and_blip2_in_one_suite(fresh_plugins, tmp_path):
    from pathlib import Path

    tiny = (Path(__file__).resolve().parents[2] / "benchmarks" / "tiny.toml").read_text()
    body = tiny.replace('models = ["blip2:tiny"]', 'models = ["blip2:tiny", "vit-gpt2:tiny"]') + \
        '\n[models."vit-gpt2:tiny"]\nhidden = 32\nheads = 2\npretrain_images = 64\npretrain_steps = 10\n'
    (tmp_path / "s.toml").write_text(body)
    result = CliRunner().invoke(cli, ["run", "--suite", str(tmp_path / "s.toml"), "--methods", "lora",
                                      "--max-steps", "3", "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    models = {json.loads(p.read_text())["config"]["model"]["name"] for p in (tmp_path / "r" / "tiny").glob("*__*.json")}
    assert models == {"blip2:tiny", "vit-gpt2:tiny"}
    board = (tmp_path / "r" / "tiny" / "leaderboard.md").read_text()
    assert "## `blip2:tiny(" in board and "## `vit-gpt2:tiny(" in board  # with the suite's recipe options
