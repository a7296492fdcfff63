"""Data plugins: an imagefolder through 🤗 datasets, COCO/Karpathy JSON, a hub id offline; GPU suites dry-run."""
import json

import pytest
from click.testing import CliRunner

from benchhub.cli import cli
from benchhub.errors import RunFailure, UserError
from benchhub_plugins.datasets.files import CocoCaptions, HubCaptions, ImageFolder
from benchhub_plugins.datasets.shapes import generate


def _write_images(directory, n=20):
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, ex in enumerate(generate("target", n, seed=9)):
        ex["image"].save(directory / f"{i}.png")
        rows.append((f"{i}.png", ex["captions"]))
    return rows


def test_imagefolder_loads_and_splits_deterministically(tmp_path):
    rows = _write_images(tmp_path / "folder")
    with open(tmp_path / "folder" / "metadata.jsonl", "w") as fh:
        for name, captions in rows:
            fh.write(json.dumps({"file_name": name, "text": captions[0]}) + "\n")
    a = ImageFolder(data_dir=str(tmp_path / "folder"), eval_fraction=0.25).load(seed=0)
    b = ImageFolder(data_dir=str(tmp_path / "folder"), eval_fraction=0.25).load(seed=0)
    assert (len(a.train), len(a.eval)) == (15, 5)
    assert [e["text"] for e in a.train] == [e["text"] for e in b.train]
    assert a.eval[0]["image"].size == (32, 32) and isinstance(a.eval[0]["references"], list)
    capped = ImageFolder(data_dir=str(tmp_path / "folder"), max_train=4, max_eval=2).load()
    assert (len(capped.train), len(capped.eval)) == (4, 2)
    with pytest.raises(UserError, match="is not a directory"):
        ImageFolder(data_dir=str(tmp_path / "nope")).load()


def test_coco_and_karpathy_formats(tmp_path):
    rows = _write_images(tmp_path / "images", n=10)
    coco = {"images": [{"id": i, "file_name": name} for i, (name, _) in enumerate(rows)],
            "annotations": [{"image_id": i, "caption": c} for i, (_, caps) in enumerate(rows) for c in caps]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    splits = CocoCaptions(annotations=str(tmp_path / "coco.json"), image_dir=str(tmp_path / "images")).load()
    assert len(splits.train) + len(splits.eval) == 10 and splits.info["format"] == "coco"
    karpathy = {"images": [{"filename": name, "filepath": "", "split": "test" if i < 3 else "train",
                            "sentences": [{"raw": c} for c in caps]} for i, (name, caps) in enumerate(rows)]}
    (tmp_path / "karpathy.json").write_text(json.dumps(karpathy))
    splits = CocoCaptions(annotations=str(tmp_path / "karpathy.json"), image_dir=str(tmp_path / "images")).load()
    assert (len(splits.train), len(splits.eval)) == (7, 3) and splits.info["format"] == "karpathy"
    assert splits.eval[0]["references"] == rows[0][1]
    with pytest.raises(UserError, match="is not a file"):
        CocoCaptions(annotations=str(tmp_path / "missing.json"), image_dir=str(tmp_path)).load()


def test_hub_dataset_offline_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(RunFailure) as info:
        HubCaptions(id="ybelkada/football-dataset").load()
    assert str(info.value).startswith("cannot load hub dataset 'ybelkada/football-dataset': not in the local")
    assert "\n" not in str(info.value)


def test_imagefolder_suite_end_to_end(fresh_plugins, tmp_path):
    rows = _write_images(tmp_path / "folder", n=24)
    with open(tmp_path / "folder" / "metadata.jsonl", "w") as fh:
        for name, captions in rows:
            fh.write(json.dumps({"file_name": name, "text": captions[0]}) + "\n")
    from pathlib import Path

    tiny = (Path(__file__).resolve().parents[2] / "benchmarks" / "tiny.toml").read_text()
    body = tiny.replace('name = "shapes"\ntrain_size = 64\neval_size = 32',
                        f'name = "imagefolder"\ndata_dir = "{tmp_path / "folder"}"')
    assert "imagefolder" in body
    (tmp_path / "suite.toml").write_text(body)
    result = CliRunner().invoke(cli, ["run", "--suite", str(tmp_path / "suite.toml"), "--methods", "lora",
                                      "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    record = json.loads(next((tmp_path / "r" / "tiny").glob("*__*.json")).read_text())
    assert record["status"] == "ok" and record["data"]["train"] == 19 and record["data"]["eval"] == 5


@pytest.mark.parametrize("suite,runs", [("football-blip2", 4), ("coco-karpathy-blip2", 6), ("vqa-shapes", 6),
                                        ("vit-digits", 9)])
def test_suites_dry_run_offline(fresh_plugins, tmp_path, suite, runs):
    result = CliRunner().invoke(cli, ["run", "--suite", suite, "--dry-run", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"{runs} runs planned" in result.output
    assert not any(tmp_path.iterdir())


def test_rows_of_one_image_stay_on_one_side(tmp_path):
    rows = _write_images(tmp_path / "folder", n=10)
    with open(tmp_path / "folder" / "metadata.jsonl", "w") as fh:
        for name, captions in rows:  # one row per caption, two rows per image
            for caption in (captions[0], captions[0] + " again"):
                fh.write(json.dumps({"file_name": name, "text": caption}) + "\n")
    splits = ImageFolder(data_dir=str(tmp_path / "folder"), eval_fraction=0.3).load()
    assert len(splits.train) + len(splits.eval) == 10
    train_images = {e["image"].tobytes() for e in splits.train}
    assert not any(e["image"].tobytes() in train_images for e in splits.eval)
    assert all(len(e["references"]) == 2 for e in splits.eval)


@pytest.mark.parametrize("option,needle", [('eval_fraction = "a"', "eval_fraction must be a finite number"),
                                           ("eval_fraction = 3", "eval_fraction must be a number"),
                                           ('train_splits = "train"', "train_splits must be a list")])
def test_dataset_option_types(fresh_plugins, tmp_path, option, needle):
    body = ('[suite]\nmethods = ["full"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "coco-captions"\n'
            f'annotations = "a.json"\nimage_dir = "img"\n{option}\n')
    (tmp_path / "s.toml").write_text(body)
    result = CliRunner().invoke(cli, ["run", "--suite", str(tmp_path / "s.toml"), "--dry-run", "--results",
                                      str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output


def test_shapes_validation_and_source_sets_are_fixed_and_apart():
    from benchhub_plugins.datasets.shapes import Shapes, ShapesClassify, ShapesVqa

    a, b = Shapes().load(seed=0), Shapes().load(seed=1)
    assert (len(a.train), len(a.eval), len(a.validation), len(a.source)) == (300, 200, 100, 200)
    for split in ("eval", "validation", "source"):  # held-out sets do not depend on the run seed
        assert [ex["id"] for ex in getattr(a, split)] == [ex["id"] for ex in getattr(b, split)]
        assert all(x["image"].tobytes() == y["image"].tobytes() for x, y in zip(getattr(a, split), getattr(b, split)))
    assert [ex["text"] for ex in a.train] != [ex["text"] for ex in b.train]  # the seed draws training captions
    pixels = {split: {ex["image"].tobytes() for ex in getattr(a, split)} for split in ("train", "eval", "validation")}
    assert not pixels["validation"] & pixels["eval"] and not pixels["validation"] & pixels["train"]
    source_words = {w for ex in a.source for ref in ex["references"] for w in ref.split()}
    assert not source_words & {"purple", "orange", "star"}  # the source domain has none of the target's additions
    pretraining = {ex["image"].tobytes() for ex in Shapes(domain="source").pretraining(3000)}
    assert not pretraining & {ex["image"].tobytes() for ex in a.source}  # held out from pre-training
    assert Shapes(domain="source").load().source is None
    for cls in (ShapesVqa, ShapesClassify):
        splits = cls().load()
        assert len(splits.validation) == 100 and len(splits.source) == 200
        assert all("references" in ex for ex in splits.validation + splits.source)


def test_the_core_carves_validation_from_train_only_when_a_dataset_has_none():
    from benchhub.components import Splits

    train = [{"image": i, "text": f"t{i}"} for i in range(50)]
    splits = Splits(list(train), [], {"train": 50})
    splits.carve_validation(0.1)
    assert len(splits.validation) == 5 and len(splits.train) == 45
    assert all(ex["references"] == [f"t{ex['image']}"] and "text" not in ex for ex in splits.validation)
    again = Splits(list(train), [], {})
    again.carve_validation(0.1)
    assert [ex["id"] for ex in again.validation] == [ex["id"] for ex in splits.validation]  # fixed, not seeded
    assert splits.info["validation"] == 5


def _karpathy(tmp_path, n=10, test=3):
    rows = _write_images(tmp_path / "images", n=n)
    splits = ["test"] * test + ["val"] + ["train"] * (n - test - 1)
    karpathy = {"images": [{"filename": name, "filepath": "", "split": split, "sentences": [{"raw": c} for c in caps]}
                           for (name, caps), split in zip(rows, splits)]}
    (tmp_path / "karpathy.json").write_text(json.dumps(karpathy, indent=1))
    return rows


def test_file_checks_find_line_numbers_only_to_refuse(tmp_path, monkeypatch):
    """Finding an entry's line is linear in the file: finding every entry's made a Karpathy check quadratic
    (hours for COCO's 123 000 images); it is found only for an error message."""
    from benchhub_plugins.datasets import validate

    rows = _karpathy(tmp_path)
    coco = {"images": [{"id": i, "file_name": name} for i, (name, _) in enumerate(rows)],
            "annotations": [{"image_id": i, "caption": caps[0]} for i, (_, caps) in enumerate(rows)]}
    (tmp_path / "coco.json").write_text(json.dumps(coco, indent=1))

    def no_lines(*args):
        raise AssertionError("line_of called though nothing is refused")

    monkeypatch.setattr(validate, "line_of", no_lines)
    for annotations in ("karpathy.json", "coco.json"):
        assert CocoCaptions(annotations=str(tmp_path / annotations), image_dir=str(tmp_path / "images")).check()
    monkeypatch.undo()
    coco["images"][4]["file_name"] = "missing.png"
    (tmp_path / "coco.json").write_text(json.dumps(coco, indent=1))
    with pytest.raises(UserError, match=r"coco.json line 19 \(images\[4\]\): no file 'missing.png'"):
        CocoCaptions(annotations=str(tmp_path / "coco.json"), image_dir=str(tmp_path / "images"),
                     eval_fraction=0.5).check()


def test_coco_check_decodes_the_images_a_run_reads(tmp_path, monkeypatch):
    """max_train caps what a run reads, and a split it does not use is not read: neither is decoded (COCO's
    Karpathy file names 123 000 images; a suite training on 5 000 must not wait for the rest)."""
    import benchhub.fileio

    rows = _karpathy(tmp_path)
    opened, real = [], benchhub.fileio.check_image
    monkeypatch.setattr(benchhub.fileio, "check_image", lambda path: opened.append(path.name) or real(path))
    (tmp_path / "images" / rows[3][0]).write_bytes(b"not an image")  # the "val" image: no run reads it
    dataset = CocoCaptions(annotations=str(tmp_path / "karpathy.json"), image_dir=str(tmp_path / "images"),
                           max_train=2)
    assert dataset.check() == 5 and opened == ["4.png", "5.png", "0.png", "1.png", "2.png"]
    splits = dataset.load()
    assert (len(splits.train), len(splits.eval)) == (2, 3)
