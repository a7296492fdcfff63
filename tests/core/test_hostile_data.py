"""Hostile or broken data through the real CLI (issue 22, points 4 and 5): every image a run would read is
opened and decoded at plan time, captions are strings, splits are not empty, names are usable, a local
folder given to `hub` is confined like an imagefolder. Each is one `Error:` line, exit 2, no traceback, no
Pillow warning, nothing run, every file under the test's folder byte-identical, nothing cached. The image
check is cached by content: a second dry run opens no image, a changed image is opened again."""
import io
import json
import os
import struct
import time
import warnings
import zlib

import pytest

from cli_helpers import assert_one_line_error, invoke


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _cached():
    root = os.path.join(os.environ["BENCHHUB_CACHE"], "data-checks")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _refused(tmp_path, suite, needle):
    """`benchhub run` on `suite`: one-line refusal with `needle`, no warning, nothing written anywhere."""
    results, cached = tmp_path / "results", _cached()
    before = _snapshot(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke("run", "--suite", suite, "--results", results)
    assert_one_line_error(result, needle)
    assert "Warning" not in result.output
    from PIL import Image

    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)
                or "PIL" in str(w.filename)], [str(w.message) for w in caught]
    assert _snapshot(tmp_path) == before and not results.exists()
    assert _cached() == cached  # only a check that passes is cached


def _png_bytes(size=(8, 8), noise=False, color=(200, 30, 30)):
    from PIL import Image

    image = Image.new("RGB", size, color)
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header(width, height):
    """A PNG of `width`×`height` pixels on paper: its header says so, its data is a few bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def _truncated():
    """A PNG whose header (signature, IHDR) is intact and whose pixel data stops half way."""
    data = _png_bytes((32, 32), noise=True)
    return data[:len(data) // 2]


SUITE = '[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[dataset]\n'


def _write_images(directory, names=("a.png", "b.png", "c.png")):
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):  # images apart by their pixels too
        (directory / name).write_bytes(_png_bytes(color=(200, 30, 10 * i)))


def _coco_suite(tmp_path, images=None, break_image=None):
    """COCO captions for a.png, b.png, c.png (three captioned images); `break_image(folder)` spoils one."""
    folder = tmp_path / "images"
    _write_images(folder)
    if break_image:
        break_image(folder)
    images = images or [{"id": i, "file_name": name} for i, name in enumerate(("a.png", "b.png", "c.png"))]
    coco = {"images": images, "annotations": [{"image_id": im["id"], "caption": f"shape {i}"}
                                              for i, im in enumerate(images)]}
    (tmp_path / "captions.json").write_text(json.dumps(coco, indent=1))
    suite = tmp_path / "coco.toml"
    suite.write_text(SUITE + f'name = "coco-captions"\nannotations = "{tmp_path / "captions.json"}"\n'
                             f'image_dir = "{folder}"\n')
    return suite


def _replace(name, data):
    def spoil(folder):
        (folder / name).write_bytes(data)
    return spoil


def _missing(folder):
    (folder / "b.png").unlink()


def _directory(folder):
    (folder / "b.png").unlink()
    (folder / "b.png").mkdir()


@pytest.mark.parametrize("spoil, needle", [
    (_missing, "(images[1]): no file 'b.png'"),
    (_replace("b.png", b""), "(images[1]): 'b.png' is empty (0 bytes)"),
    (_replace("b.png", b"GIF89a but not really an image" * 4),
     "(images[1]): 'b.png' is not an image Pillow can decode (no format Pillow knows matches its bytes)"),
    (_replace("b.png", _truncated()),
     "(images[1]): 'b.png' is not an image Pillow can decode (image file is truncated)"),
    (_directory, "(images[1]): 'b.png' is a directory"),
    (_replace("c.png", _png_header(30000, 30000)),
     "(images[2]): 'c.png' refused as a decompression bomb (900,000,000 pixels; allowed: at most"),
    (_replace("c.png", _png_header(10000, 10000)),  # over Pillow's limit, under its error: it would only warn
     "(images[2]): 'c.png' refused as a decompression bomb (100,000,000 pixels; allowed: at most"),
])
def test_a_broken_coco_image_is_refused_before_anything_runs(fresh_plugins, tmp_path, spoil, needle):
    _refused(tmp_path, _coco_suite(tmp_path, break_image=spoil), needle)


@pytest.mark.parametrize("name", ["a\x00.png", "a\n.png", "a\u2028.png"])
def test_a_control_character_in_a_file_name_is_one_line(fresh_plugins, tmp_path, name):
    images = [{"id": 0, "file_name": "a.png"}, {"id": 1, "file_name": name}]
    _refused(tmp_path, _coco_suite(tmp_path, images=images), f"line 7 (images[1]): file name {name!r} contains")


def _karpathy_suite(tmp_path, splits):
    folder = tmp_path / "images"
    names = [f"{i}.png" for i in range(len(splits))]
    _write_images(folder, names)
    data = {"images": [{"filename": name, "filepath": "", "split": split, "sentences": [{"raw": f"shape {i}"}]}
                       for i, (name, split) in enumerate(zip(names, splits))]}
    (tmp_path / "dataset_coco.json").write_text(json.dumps(data, indent=1))
    suite = tmp_path / "karpathy.toml"
    suite.write_text(SUITE + f'name = "coco-captions"\nannotations = "{tmp_path / "dataset_coco.json"}"\n'
                             f'image_dir = "{folder}"\n')
    return suite


@pytest.mark.parametrize("splits, needle", [
    (["test", "test", "val"], "the training split (train+restval) has no captioned image (captioned images by "
                              "split: test 2, val 1)"),
    (["train", "restval", "val"], "the eval split ('test') has no captioned image"),
])
def test_an_empty_karpathy_split_is_refused(fresh_plugins, tmp_path, splits, needle):
    _refused(tmp_path, _karpathy_suite(tmp_path, splits), needle)


def test_a_single_coco_image_cannot_make_two_splits(fresh_plugins, tmp_path):
    _refused(tmp_path, _coco_suite(tmp_path, images=[{"id": 0, "file_name": "a.png"}]),
             "1 captioned image(s); a training and a held-out split need at least 2")


def _folder(tmp_path, rows, name="folder"):
    folder = tmp_path / name
    _write_images(folder, ("a.png", "b.png"))
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


ROWS = [{"file_name": "a.png", "text": "a red square"}, {"file_name": "b.png", "text": "a red circle"}]


def _imagefolder_suite(tmp_path, folder):
    suite = tmp_path / "folder.toml"
    suite.write_text(SUITE + f'name = "imagefolder"\ndata_dir = "{folder}"\n')
    return suite


def _hub_suite(tmp_path, folder):
    suite = tmp_path / "hub.toml"
    suite.write_text(SUITE + f'name = "hub"\nid = "{folder}"\n')
    return suite


def _truncate_b(folder):
    (folder / "b.png").write_bytes(_truncated())


def _both_metadata(folder):
    (folder / "metadata.csv").write_text("file_name,text\na.png,a red square\n")


def _symlink_out(folder):
    (folder.parent / "outside.png").write_bytes(_png_bytes())
    (folder / "c.png").symlink_to(folder.parent / "outside.png")


@pytest.mark.parametrize("suite", [_imagefolder_suite, _hub_suite], ids=["imagefolder", "hub-local-folder"])
@pytest.mark.parametrize("rows, spoil, needle", [
    (ROWS, _truncate_b, "metadata.jsonl line 2: 'b.png' is not an image Pillow can decode (image file is truncated)"),
    (ROWS[:1] + [{"file_name": "b.png", "text": 7}], None,
     "line 2: 'text' must be a string (a caption), got a number 7"),
    (ROWS[:1] + [{"file_name": "b.png", "text": ["x", "y"]}], None,
     "line 2: 'text' must be a string (a caption), got a list [\"x\", \"y\"]"),
    (ROWS, _both_metadata, "folder/metadata.csv are present; allowed: one kind of metadata file"),
    (ROWS, _symlink_out, "'c.png' points outside"),
    (ROWS[:1] + [{"file_name": "b\x00.png", "text": "x"}], None, "line 2: file name 'b\\x00.png' contains '\\x00'"),
    (ROWS + [{"file_name": "a.png", "text": "x", "score": 1}, {"file_name": "b.png", "text": "y", "score": "high"}],
     None, "line 4: column 'score' is a string here but a number at line 3"),
])
def test_a_broken_image_folder_is_refused_before_anything_runs(fresh_plugins, tmp_path, suite, rows, spoil,
                                                                needle):
    folder = _folder(tmp_path, rows)
    if spoil:
        spoil(folder)
    _refused(tmp_path, suite(tmp_path, folder), needle)


def test_a_local_hub_folder_is_read_as_an_imagefolder_only(fresh_plugins, tmp_path):
    folder = _folder(tmp_path, ROWS)
    suite = tmp_path / "hub.toml"
    suite.write_text(SUITE + f'name = "hub"\nid = "{folder}"\nimage_column = "picture"\n')
    _refused(tmp_path, suite, "is a local folder, read as an imagefolder whose image column is 'image'")
    suite.write_text(SUITE + f'name = "hub"\nid = "{folder / "a.png"}"\n')
    _refused(tmp_path, suite, "is a local file, not a Hub id or a folder")


def test_a_local_hub_folder_loads_what_was_checked(tmp_path):
    """The README of a local folder cannot send 🤗 datasets elsewhere: it is read as an imagefolder."""
    from benchhub_plugins.datasets.files import HubCaptions

    folder = _folder(tmp_path, ROWS + [{"file_name": "a.png", "text": "a red square again"}])
    _write_images(tmp_path / "elsewhere", ("x.png",))
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                      "    path: ../elsewhere/*\n---\n")
    splits = HubCaptions(id=str(folder)).load()
    assert len(splits.train) + len(splits.eval) == 2 and splits.info["source"] == str(folder)


# ---------------------------------------------------------------- the image check is cached by content


def _counting(monkeypatch):
    import benchhub.fileio

    opened, real = [], benchhub.fileio.check_image
    monkeypatch.setattr(benchhub.fileio, "check_image", lambda path: opened.append(path) or real(path))
    return opened


def test_a_second_dry_run_opens_no_image_and_a_changed_image_is_opened_again(fresh_plugins, tmp_path, monkeypatch):
    from benchhub_plugins.datasets import validate

    monkeypatch.setattr(validate, "RACY_SECONDS", 0.0)
    opened = _counting(monkeypatch)
    suite = _coco_suite(tmp_path)

    def dry_run():
        opened.clear()
        result = invoke("run", "--suite", suite, "--dry-run", "--results", tmp_path / "results")
        assert result.exit_code == 0 and "data not ready" not in result.output, result.output
        return len(opened)

    assert dry_run() == 3
    assert dry_run() == 0  # cached: the same bytes, sizes, times
    time.sleep(0.05)  # past the file system's clock tick
    (tmp_path / "images" / "b.png").write_bytes(_png_bytes((9, 9)))
    assert dry_run() == 3
    assert dry_run() == 0
    # the same size and the old mtime put back: the inode's change time still tells
    b = tmp_path / "images" / "b.png"
    info = b.stat()
    time.sleep(0.05)
    b.write_bytes(b"\x89PNG" + b"\x00" * (info.st_size - 4))
    os.utime(b, ns=(info.st_atime_ns, info.st_mtime_ns))
    _refused(tmp_path, suite, "(images[1]): 'b.png' is not an image Pillow can decode")


def test_files_changed_just_now_are_not_cached(tmp_path, monkeypatch):
    """A file changed within the file system's clock tick of the check could change again unseen."""
    from benchhub_plugins.datasets.files import ImageFolder

    opened = _counting(monkeypatch)
    folder = _folder(tmp_path, ROWS)
    cached = _cached()
    assert ImageFolder(data_dir=str(folder)).check() == 2 and len(opened) == 2
    assert ImageFolder(data_dir=str(folder)).check() == 2 and len(opened) == 4
    assert _cached() == cached
