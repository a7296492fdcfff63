"""Hostile or unlucky input through the real CLI: one `Error:` line, exit 2, no traceback, and every file
under the test's folder (results, data, suites) byte-identical afterwards."""
import json
import struct
import zlib

import pytest

from cli_helpers import assert_one_line_error, invoke


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _refused(tmp_path, args, needle):
    """Run the CLI on `args`; assert one-line refusal with `needle`, and that nothing under tmp_path changed."""
    results = tmp_path / "results"
    (results / "tiny").mkdir(parents=True, exist_ok=True)
    (results / "tiny" / "earlier.txt").write_text("a file from an earlier run")
    before = _snapshot(tmp_path)
    assert_one_line_error(invoke(*args, "--results", results), needle)
    assert _snapshot(tmp_path) == before


SUITE = """
[suite]
methods = ["lora", "full"]
models = ["blip2:tiny"]
{extra_head}
[dataset]
name = "shapes"
{extra}
"""


@pytest.mark.parametrize("extra_head, extra, needle", [
    ("", "[methods.lorra]\nr = 4", "[methods.lorra] table: unknown method 'lorra'; did you mean 'lora'?"),
    ("", '[models."vitt:tiny"]\nhidden = 4', "[models.vitt:tiny] table: unknown model 'vitt'"),
    ("seeds = [99999999999999999999]", "", "out of range"),
    ("seeds = [4294967296]", "", "out of range"),
    ("seeds = [-1]", "", "out of range"),
    ("seed = [1, 2]", "", "unknown [suite] key 'seed'"),
])
def test_bad_suites_are_refused_before_anything_runs(fresh_plugins, tmp_path, extra_head, extra, needle):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(extra_head=extra_head, extra=extra))
    results = tmp_path / "results"
    assert_one_line_error(invoke("run", "--suite", path, "--results", results), needle)
    assert not results.exists()


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "tiny", "--seeds", "99999999999999999999", "--dry-run"], "out of range"),
    (["run", "--suite", "tiny", "--seeds", "-3", "--dry-run"], "out of range"),
    (["report", "--suite", ".."], "a name, not a path"),
    (["report", "--suite", "../x"], "a name, not a path"),
])
def test_bad_command_lines_are_refused(fresh_plugins, tmp_path, args, needle):
    before = _snapshot(tmp_path)
    assert_one_line_error(invoke(*args, "--results", tmp_path), needle)
    assert _snapshot(tmp_path) == before


def _png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_in_one_line(tmp_path):
    from benchhub.fileio import open_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(30000, 30000))
    with pytest.raises(ValueError, match="decompression bomb"):
        open_image(bomb)
    from benchhub.predict import open_images
    from benchhub.errors import UserError

    with pytest.raises(UserError, match="refused as a decompression bomb"):
        open_images([str(bomb)])


# ---------------------------------------------------------------- the command line (issue 13, point 4)


@pytest.mark.parametrize("methods, needle", [
    ("lora(alpha=abc)", 'option alpha must be an integer or a finite number, got "abc"'),
    ("lora(dropout=5)", "dropout must be in [0, 1), got 5"),
    ("lora(r=0)", "r must be a positive integer"),
    ("lora(r=true)", "option r must be an integer, got true"),
    ("lora(bias=weird)", "bias must be one of none, all, lora_only"),
    ("lora(rank=4)", "has no option 'rank'"),
    ("lora(target_modules=nonexistent)", "target_modules 'nonexistent' matches no module of Blip2Bundle"),
    ('lora(target_modules=["query","nope"])', "target_modules 'nope' matches no module"),
    ('frozen-top(head="text")', 'option head must be true or false, got "text"'),
    ("frozen-top(k=1.5)", "option k must be an integer"),
    ("frozen-top(tower=nose)", "unknown tower 'nose'"),
    ("dora(r=-1)", "r must be positive, got -1"),
    ("dora(r=abc)", "option r must be an integer"),
    ("dora(lora_dropout=2)", "lora_dropout must be in [0, 1), got 2"),
    ("full(lr=nan)", "lr must be a finite non-negative number"),
    ("full(lr=inf)", "lr must be a finite non-negative number"),
    ("full(lr=[1e-4,inf])", "lr must be a finite non-negative number"),
    ("full(lr=[1e-4,1e-4])", "an lr grid needs distinct values"),
    ("zero-shot(lr=[1e-4,1e-3])", "does not train; it takes no learning-rate grid"),
    ("lorra", "unknown method 'lorra'; did you mean 'lora'?"),
    ("peft:prefix_tuning", "prefix_tuning is a prompt-learning method"),
    ("lora(r=4", "lora(r=4"),
])
def test_bad_method_options_are_refused_at_plan_time(fresh_plugins, tmp_path, methods, needle):
    _refused(tmp_path, ["run", "--suite", "tiny", "--methods", methods], needle)


@pytest.mark.parametrize("args, needle", [
    (["--models", "vitt:tiny"], "unknown model 'vitt'"),
    (["--models", "blip2:huge"], "unknown blip2 preset 'huge'"),
    (["--memory-limit", "5XB"], "memory"),
    (["--seeds", "1,x"], "--seeds"),
    (["--jobs", "64"], "--jobs 64"),
    (["--processes", "3"], "3 processes do not divide effective batch 8"),
    (["--processes", "2", "--threads", "2"], "--processes 2 × 2 threads per process need more than"),
    (["--processes", "0"], "--processes"),
    (["--max-seconds", "0"], "must be a positive number of seconds, or none"),
    (["--timeout", "soon"], "is not a number of seconds or none"),
    (["--ray-address", "127.0.0.1:1"], "--ray-address and --artifacts go with --executor ray"),
    (["--executor", "slurm"], "slurm"),
])
def test_bad_run_options_are_refused(fresh_plugins, tmp_path, args, needle):
    _refused(tmp_path, ["run", "--suite", "tiny", *args], needle)


# ---------------------------------------------------------------- suite files


@pytest.mark.parametrize("text, needle", [
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\ntypo_methods = ["full"]\n[dataset]\nname = "shapes"',
     "unknown [suite] key 'typo_methods'"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[methodz.lora]\nr = 4\n[dataset]\nname = "shapes"',
     "unknown table 'methodz'"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[budget]\nmax_step = 5\n[dataset]\nname = "shapes"',
     "unknown [budget] key 'max_step'"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[methods.lora]\nlr = nan\n[dataset]\nname = "shapes"',
     "lr must be a finite non-negative number"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[methods.lora]\nlr = []\n[dataset]\nname = "shapes"',
     "an lr grid needs at least one value"),
    ('[suite]\nmethods = []\nmodels = ["blip2:tiny"]\n[dataset]\nname = "shapes"',
     "[suite] methods must have at least 1 item, got []"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\njobs = 0\n[dataset]\nname = "shapes"',
     "[suite] jobs must be greater than or equal to 1, got 0"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\nreference = "full"\n[dataset]\nname = "shapes"',
     "reference must be one of the suite's methods"),
    ('[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[dataset]\nsize = 3', "[dataset] name is required"),
    ('[suite\nmethods = ["lora"]', "malformed suite file"),
])
def test_bad_suite_files_are_refused(fresh_plugins, tmp_path, text, needle):
    (tmp_path / "s.toml").write_text(text)
    _refused(tmp_path, ["run", "--suite", tmp_path / "s.toml"], needle)


# ---------------------------------------------------------------- data on disk (point 5)


def _png(path, size=(8, 8)):
    from PIL import Image

    Image.new("RGB", size, (200, 30, 30)).save(path)


def _coco_suite(tmp_path, annotations):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    for name in ("a.png", "b.png", "c.png"):
        _png(images / name)
    ann = tmp_path / "captions.json"
    ann.write_text(annotations if isinstance(annotations, str) else json.dumps(annotations, indent=1))
    suite = tmp_path / "coco.toml"
    suite.write_text(f'[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "coco-captions"\n'
                     f'annotations = "{ann}"\nimage_dir = "{images}"\n')
    return suite


def _coco(images=None, annotations=None):
    images = images if images is not None else [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}]
    annotations = annotations if annotations is not None else [{"image_id": 1, "caption": "a red square"},
                                                               {"image_id": 2, "caption": "a blue circle"}]
    return {"images": images, "annotations": annotations}


@pytest.mark.parametrize("annotations, needle", [
    (_coco(images=[{"id": 1, "file_name": "../../../../etc/passwd"}]), "points outside"),
    (_coco(images=[{"id": 1, "file_name": "/etc/passwd"}]), "is an absolute path"),
    ([{"image_id": 1, "caption": "x"}], "found list"),
    ({"annotations": []}, "expected COCO captions JSON"),
    (_coco(annotations=[{"caption": "x"}]), "line 13 (annotations[0]): an annotation needs an 'image_id'"),
    (_coco(annotations=[{"image_id": 1, "caption": 5}]), "needs an 'image_id' and a string 'caption'"),
    (_coco(annotations=[{"image_id": 9, "caption": "x"}]), "image_id 9 is not in 'images'"),
    (_coco(images=[{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}]), "duplicate image id 1"),
    (_coco(annotations=[{"image_id": 1, "caption": " "}, {"image_id": 2, "caption": ""}]),
     "no image has a non-empty caption"),
    ('{"images": [\n{"id": 1,, }]}', "line 2 column 10: not JSON"),
])
def test_malformed_coco_is_refused_naming_the_entry(fresh_plugins, tmp_path, annotations, needle):
    _refused(tmp_path, ["run", "--suite", _coco_suite(tmp_path, annotations)], needle)


def _folder_suite(tmp_path, rows, extra=None):
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        _png(folder / name)
    (folder / "metadata.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows))
    if extra:
        extra(folder)
    suite = tmp_path / "folder.toml"
    suite.write_text(f'[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "imagefolder"\n'
                     f'data_dir = "{folder}"\n')
    return suite


GOOD_ROWS = [{"file_name": "a.png", "text": "a red square"}, {"file_name": "b.png", "text": "a red circle"}]


def _symlink_out(folder):
    (folder / "c.png").symlink_to(folder.parent / "outside.png")
    _png(folder.parent / "outside.png")


def _bomb(folder):
    (folder / "a.png").write_bytes(_png_header(30000, 30000))


@pytest.mark.parametrize("rows, extra, needle", [
    (GOOD_ROWS, _symlink_out, "'c.png' points outside"),
    (GOOD_ROWS[:1] + ['{"file_name": "b.png", "text": '], None, "metadata.jsonl line 2: not JSON"),
    (GOOD_ROWS + [{"file_name": "../outside.png", "text": "x"}], None, "line 3: '../outside.png' points outside"),
    (GOOD_ROWS + [{"file_name": "c.png", "text": "x"}], None, "line 3: no file 'c.png'"),
    ([{"file_name": "a.png", "caption": "x"}], None, "line 1: no 'text' column"),
    ([], None, "its metadata has no rows"),
    (GOOD_ROWS, _bomb, "refused as a decompression bomb"),
])
def test_hostile_imagefolders_are_refused(fresh_plugins, tmp_path, rows, extra, needle):
    _refused(tmp_path, ["run", "--suite", _folder_suite(tmp_path, rows, extra)], needle)


def test_an_empty_image_folder_is_refused(fresh_plugins, tmp_path):
    (tmp_path / "empty").mkdir()
    suite = tmp_path / "s.toml"
    suite.write_text(f'[suite]\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "imagefolder"\n'
                     f'data_dir = "{tmp_path / "empty"}"\n')
    _refused(tmp_path, ["run", "--suite", suite], "no metadata.jsonl or metadata.csv")


# ---------------------------------------------------------------- records not understood (point 1)


def _record_file(tmp_path, body: str, name="m__x__seed0__00000000000000aa.json"):
    path = tmp_path / "results" / "tiny" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, needle", [
    ('{"truncat', "not JSON"),
    (json.dumps({"schema_version": 99, "run_id": "00000000000000aa"}), "written by a newer benchhub (schema 99"),
    (json.dumps({"schema_version": 1, "run_id": "00000000000000aa", "config": {}, "status": "ok", "metrics": {},
                 "batching": {}, "environment": {}}), "config not understood"),
])
def test_show_refuses_records_it_does_not_understand(tmp_path, body, needle):
    _record_file(tmp_path, body)
    _refused(tmp_path, ["show", "00000000000000aa"], needle)
