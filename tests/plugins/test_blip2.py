"""The BLIP-2 model plugin and the shapes world, end to end through the CLI on real processes."""
import json

import pytest
import torch
from click.testing import CliRunner

from benchhub.cli import cli
from benchhub.errors import RunFailure
from benchhub_plugins.datasets.shapes import generate

SMALL = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "image_size": 32, "patch_size": 8,
         "num_query_tokens": 4, "vision_position_std": 0.5}


def test_shapes_are_deterministic_and_shifted():
    a, b = generate("target", 5, seed=7), generate("target", 5, seed=7)
    assert [x["captions"] for x in a] == [x["captions"] for x in b]
    assert all((x["image"].tobytes() == y["image"].tobytes()) for x, y in zip(a, b))
    source_words = {w for ex in generate("source", 300, 0) for c in ex["captions"] for w in c.split()}
    target_words = {w for ex in generate("target", 300, 0) for c in ex["captions"] for w in c.split()}
    assert {"purple", "orange", "star"} <= target_words - source_words
    relation_words = {"above", "below", "to", "the", "left", "right", "of"}
    pairs = [ex["captions"] for ex in a + generate("target", 20, 1) if len(ex["captions"]) == 2]
    assert pairs
    for first, second in pairs:  # both word orders of the same two shapes are references
        assert first != second
        assert sorted(w for w in first.split() if w not in relation_words) == \
            sorted(w for w in second.split() if w not in relation_words)


def test_image_conditioning_check_catches_missing_image_tokens():
    from transformers import Blip2Processor

    from benchhub_plugins.models.blip2 import Blip2Bundle, build_tiny

    model, processor = build_tiny(SMALL)
    example = {"image": generate("source", 1, 0)[0]["image"], "text": "a red circle on the left"}
    good = Blip2Bundle(model, processor, torch.device("cpu"))
    assert good.check_image_conditioning(example) > 1e-6
    # The silent failure of NOTES: a processor without num_query_tokens adds no <image> tokens.
    broken = Blip2Processor(image_processor=processor.image_processor, tokenizer=processor.tokenizer)
    with pytest.raises(RunFailure, match="image-conditioning check failed"):
        Blip2Bundle(model, broken, torch.device("cpu")).check_image_conditioning(example)


def test_bundle_structure_and_manifest():
    from peft import LoraConfig, get_peft_model

    from benchhub_plugins.models.blip2 import Blip2Bundle, build_tiny

    from benchhub_plugins.methods.lora import default_targets

    model, processor = build_tiny(SMALL)
    bundle = Blip2Bundle(model, processor, torch.device("cpu"))
    assert len(bundle.blocks("language")) == len(bundle.blocks("vision")) == 1
    assert bundle.blocks() == bundle.blocks("language")  # the output tower
    manifest = bundle.manifest()
    assert set(manifest) == {"vision", "bridge", "head", "language"}
    assert all(isinstance(m, torch.nn.Module) for m in bundle.components().values())
    assert sum(m["total"] for m in manifest.values()) == bundle.parameter_counts()[1]
    # LoRA's default targets: the language model's q_proj and v_proj, by full module name (NOTES)
    targets = default_targets(bundle)
    assert targets == [name for name, _ in model.named_modules()
                       if name.startswith("language_model.") and name.rsplit(".", 1)[-1] in ("q_proj", "v_proj")]
    assert len(targets) == 2 * len(bundle.blocks("language"))
    model.requires_grad_(False)
    bundle.model = get_peft_model(model, LoraConfig(r=2, target_modules=targets))
    assert bundle.base_model() is model
    assert default_targets(bundle) == targets  # still found through the PEFT wrapper
    manifest = bundle.manifest()
    assert manifest["vision"]["trainable"] == manifest["bridge"]["trainable"] == 0
    assert manifest["language"]["trainable"] == bundle.parameter_counts()[0] > 0


def test_run_lora_and_full_end_to_end(fresh_plugins, tmp_path):
    """`benchhub run` of the tiny suite: real pre-training, training, pycocoevalcap; the pre-trained model
    does not give one caption for every image, and training changes what each method predicts (issue 15)."""
    results = tmp_path / "results"
    result = CliRunner().invoke(cli, ["run", "--suite", "tiny", "--results", str(results)])
    assert result.exit_code == 0, result.output
    records = {r["config"]["method"]["name"]: r
               for r in (json.loads(p.read_text()) for p in (results / "tiny").glob("*__*.json"))}
    assert set(records) == {"zero-shot", "lora", "full"}
    zero_shot = records.pop("zero-shot")
    assert len({s["prediction"] for s in zero_shot["eval"]["samples"]}) > 1  # not collapsed to one caption
    for r in records.values():
        assert r["per_example"]["eval"]["CIDEr"] != zero_shot["per_example"]["eval"]["CIDEr"]  # training shows
        assert r["status"] == "ok", r["error"]
        assert set(r["metrics"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr"}
        assert "SPICE" in r["skipped_metrics"]
        assert 0 <= r["metrics"]["BLEU-4"] <= 1 and r["metrics"]["CIDEr"] >= 0
        assert r["batching"]["grad_accum_steps"] == 2 and r["train"]["steps"] == 20
        assert len(r["eval"]["samples"]) == 5
    lora, full = records["lora"]["parameters"], records["full"]["parameters"]
    assert full["trainable"] == full["total"]
    assert 0 < lora["trainable"] < full["trainable"] // 10
    assert lora["manifest"]["vision"]["trainable"] == 0
    board = (results / "tiny" / "leaderboard.md").read_text()
    assert "| `lora` |" in board and "| `full` |" in board and "CIDEr ↑" in board


def _save_small(path, with_query_tokens=True):
    from transformers import Blip2Processor

    from benchhub_plugins.models.blip2 import build_tiny

    model, processor = build_tiny(SMALL, seed=3)
    model.save_pretrained(path)
    if not with_query_tokens:
        processor = Blip2Processor(image_processor=processor.image_processor, tokenizer=processor.tokenizer)
    processor.save_pretrained(path)
    return model


@pytest.mark.parametrize("with_query_tokens", [True, False])
def test_local_directory_preset_loads_exactly(tmp_path, with_query_tokens):
    from benchhub_plugins.models.blip2 import Blip2, to_logits

    saved = _save_small(tmp_path / "ckpt", with_query_tokens)
    bundle = Blip2(preset=str(tmp_path / "ckpt")).build(torch.device("cpu"))
    example = {"image": generate("target", 1, 0)[0]["image"], "text": "a red circle on the left"}
    saved.eval()
    with torch.no_grad():
        expected = to_logits(type(bundle)(saved, bundle.processor, torch.device("cpu")), bundle.collate([example]))
        assert torch.equal(to_logits(bundle, bundle.collate([example])), expected)
    # a processor saved without num_query_tokens is repaired, so the image still conditions the output
    assert bundle.check_image_conditioning(example) > 1e-6


def test_real_preset_offline_is_one_clear_line(monkeypatch):
    from benchhub_plugins.models.blip2 import Blip2

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RunFailure) as info:
        Blip2(preset="opt-2.7b").build(torch.device("cpu"))
    assert str(info.value).startswith("cannot load 'Salesforce/blip2-opt-2.7b': it is not a local directory")
    assert "\n" not in str(info.value)


def test_recipe_options_only_for_the_tiny_preset():
    from benchhub.errors import UserError
    from benchhub_plugins.models.blip2 import Blip2

    with pytest.raises(UserError, match="apply to the tiny preset only"):
        Blip2(preset="opt-2.7b", pretrain_steps=5)


def test_vqa_labels_cover_only_the_answer():
    from benchhub_plugins.datasets.shapes import ShapesVqa
    from benchhub_plugins.models.blip2 import Blip2Bundle, build_tiny

    model, processor = build_tiny({**SMALL, "pretrain_vqa": True})
    bundle = Blip2Bundle(model, processor, torch.device("cpu"))
    example = ShapesVqa(train_size=2, eval_size=1).load().train[0]
    batch = bundle.collate([example])
    targets = batch["input_ids"][0][batch["labels"][0] != -100]
    assert bundle.tokenizer.decode(targets) == f"{example['text']} </s>"
    assert "question" in bundle.tokenizer.decode(batch["input_ids"][0])


def test_vqa_end_to_end(fresh_plugins, tmp_path):
    from pathlib import Path

    tiny = (Path(__file__).resolve().parents[2] / "benchmarks" / "tiny.toml").read_text()
    suite = tmp_path / "vqa-tiny.toml"
    suite.write_text(tiny.replace('name = "tiny"', 'name = "vqa-tiny"')
                     .replace('metrics = ["coco-caption(meteor=false)"]', 'metrics = ["vqa-accuracy"]')
                     .replace('name = "shapes"', 'name = "shapes-vqa"'))
    without = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--methods", "zero-shot",
                                       "--results", str(tmp_path / "without")])
    assert without.exit_code == 1
    record = json.loads(next((tmp_path / "without" / "vqa-tiny").glob("*__*.json")).read_text())
    assert "set pretrain_vqa = true" in record["error"]
    suite.write_text(suite.read_text().replace("hidden = 64", "hidden = 64\npretrain_vqa = true"))
    result = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--methods", "zero-shot,lora",
                                      "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in (tmp_path / "r" / "vqa-tiny").glob("*__*.json")]
    assert {r["status"] for r in records} == {"ok"}
    assert all(0 <= r["metrics"]["VQA accuracy"] <= 1 for r in records)
    assert "VQA accuracy ↑" in (tmp_path / "r" / "vqa-tiny" / "leaderboard.md").read_text()
