"""Hostile or unlucky input through the real CLI: one `Error:` line, exit 2, no traceback, and every file
under the test's folder (results, data, suites) byte-identical afterwards."""
import json
import struct
import zlib
from pathlib import Path

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
                 "batching": {}, "environment": {}}), "config.suite is required"),
])
def test_show_refuses_records_it_does_not_understand(tmp_path, body, needle):
    _record_file(tmp_path, body)
    _refused(tmp_path, ["show", "00000000000000aa"], needle)


# ---------------------------------------------------------------- issue 22: schemas for suites and budgets


TINY = (Path(__file__).resolve().parents[2] / "benchmarks" / "tiny.toml").read_text()


def _tiny_with(tmp_path, **tables) -> Path:
    """benchmarks/tiny.toml with lines added at the top of some of its tables."""
    lines, section = [], None
    headers = {"[suite]": "suite", "[budget]": "budget", "[dataset]": "dataset", '[models."blip2:tiny"]': "model"}
    added = {table: dict(line.split(" = ", 1) for line in text.split("\n")) for table, text in tables.items()}
    for line in TINY.splitlines():
        if line.startswith("["):
            section = headers.get(line)
            lines.append(line)
            lines += [f"{k} = {v}" for k, v in added.get(section, {}).items()]
        elif line.split(" = ", 1)[0] not in added.get(section, {}):  # the new value replaces the old
            lines.append(line)
    text = "\n".join(lines) + "\n"
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("tables, needle", [
    ({"budget": "max_epochs = inf"}, "[budget] max_epochs must be a finite number, got inf"),
    ({"budget": "max_epochs = nan"}, "[budget] max_epochs must be a finite number, got nan"),
    ({"budget": "max_grad_norm = nan"}, "[budget] max_grad_norm must be a finite number, got nan"),
    ({"budget": "weight_decay = nan"}, "[budget] weight_decay must be a finite number, got nan"),
    ({"budget": "warmup_ratio = -inf"}, "[budget] warmup_ratio must be a finite number, got -inf"),
    ({"budget": "max_seconds = inf"}, "[budget] max_seconds must be a finite number, got inf"),
    ({"budget": "threads = 100000"}, "[budget] threads must be less than or equal to 1024, got 100000"),
    ({"budget": "threads = true"}, "[budget] threads must be an integer, got true"),
    ({"budget": 'lr_schedule = "cosin"'}, "[budget] lr_schedule must be 'cosine', 'linear' or 'constant'"),
    ({"budget": 'memory_limit = "lots"'}, "[budget] memory_limit: cannot parse memory limit 'lots'"),
    ({"suite": "seeds = [true]"}, "[suite] seeds[0] must be an integer, got true"),
    ({"suite": 'seeds = ["0"]'}, "[suite] seeds[0] must be an integer, got '0'"),
    ({"suite": "jobs = 1.5"}, "[suite] jobs must be an integer, got 1.5"),
    ({"suite": "jobs = 2000"}, "[suite] jobs must be less than or equal to 1024"),
    ({"suite": 'description = 5'}, "[suite] description must be a string, got 5"),
    ({"suite": 'metrics = "coco-caption"'}, "[suite] metrics must be a list"),
    ({"suite": 'name = "../up"'}, "[suite] name must be letters, digits"),
    ({"model": "hidden = -64"}, "blip2: option hidden must be an integer from 1 to 1000000, got -64"),
    ({"model": "pretrain_steps = -1"}, "blip2: option pretrain_steps must be an integer from 1 to 1000000, got -1"),
    ({"model": "pretrain_lr = nan"}, "blip2: option pretrain_lr must be a finite number ≥ 0, got nan"),
    ({"model": "heads = 3"}, "blip2: hidden 64 must be a multiple of heads 3"),
])
def test_suite_values_outside_the_schema_are_refused_before_anything_runs(fresh_plugins, tmp_path, tables, needle):
    suite = _tiny_with(tmp_path, **tables)
    _refused(tmp_path, ["run", "--suite", suite], needle)


def test_the_budget_of_a_suite_is_checked_in_bounded_time(fresh_plugins, tmp_path):
    """An effective batch with a huge prime factor once hung while its divisors were listed."""
    import time

    budget = "effective_batch = 1000000000039\nmicro_batch = 2"
    started = time.monotonic()
    _refused(tmp_path, ["run", "--suite", _tiny_with(tmp_path, budget=budget), "--dry-run"],
             "[budget] effective_batch must be less than or equal to 1048576, got 1000000000039")
    _refused(tmp_path, ["run", "--suite", "tiny", "--effective-batch", "1000000000039", "--micro-batch", "2",
                        "--dry-run"], "--effective-batch must be less than or equal to 1048576, got 1000000000039")
    _refused(tmp_path, ["run", "--suite", "tiny", "--effective-batch", "720720", "--micro-batch", "17017"],
             "micro-batch 17017 does not divide effective batch 720720; choose one of 1, 2, 3, 4, 5, 6, 7, 8, 9, "
             "10, 11, 12, …")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("args, needle", [
    (["--methods", "frozen-top(k=1000)"], "frozen-top: k=1000 but the language tower of this model has only 2 blocks"),
    (["--methods", "lora(r=4,r=8)"], "option 'r' is given twice in 'lora(r=4,r=8)'"),
    (["--max-steps", "0"], "--max-steps must be greater than or equal to 1, got 0"),
    (["--threads", str((__import__("os").cpu_count() or 1) + 1)], "CPU cores; give at most"),
    (["--models", "blip2:tiny(hidden=-64)"], "blip2: option hidden must be an integer from 1 to 1000000, got -64"),
])
def test_values_only_a_run_would_have_found_are_refused_at_plan_time(fresh_plugins, tmp_path, args, needle):
    _refused(tmp_path, ["run", "--suite", "tiny", *args], needle)


# ---------------------------------------------------------------- issue 22: a reviewer's hostile second pass


@pytest.mark.parametrize("tables, needle", [
    ({"suite": 'methods = ["zero-shot", "zero-shot"]'}, "[suite] methods: zero-shot is listed twice"),
    ({"suite": 'models = ["blip2:tiny", "blip2:tiny"]'}, "[suite] models: blip2:tiny is listed twice"),
    ({"suite": "seeds = [0, 0]"}, "[suite] seeds: seed 0 is listed twice"),
    ({"suite": f'name = "{"n" * 61}"'}, "[suite] name must have at most 60 characters"),
    ({"suite": "seeds = " + "[" * 500 + "]" * 500}, "nested too deeply"),
    ({"budget": 'memory_limit = "' + "9" * 400 + '"'}, "cannot parse memory limit"),
    ({"budget": 'memory_limit = "４GiB"'}, "cannot parse memory limit"),
    ({"dataset": "train_size = 9223372036854775807"}, "train_size must be an integer from 1 to 10000000"),
    ({"model": 'preset = "opt-2.7b"'}, "model 'blip2:tiny' sets preset by its name"),
])
def test_what_a_hostile_reviewer_found_in_suites_is_refused(fresh_plugins, tmp_path, tables, needle):
    _refused(tmp_path, ["run", "--suite", _tiny_with(tmp_path, **tables), "--dry-run"], needle)


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "tiny", "--models", 'blip2:tiny(preset="tiny")'], "sets preset by its name"),
    (["run", "--suite", "tiny", "--methods", 'peft:lora(type="ia3")'], "sets type by its name"),
    (["run", "--suite", "tiny", "--methods", "lora(r=" + "[" * 500 + "]" * 500 + ")"], "nested too deeply"),
    (["run", "--suite", "tiny", "--memory-limit", "9" * 400], "cannot parse memory limit"),
    (["run", "--suite", "tiny", "--seeds", "1_0"], "--seeds expects comma-separated integers"),
    (["run", "--suite", "tiny", "--methods", "lora\x1b[31m"], "\\x1b"),
    (["run", "--suite", "tiny", "--threads", "1000", "--dry-run"], "give at most"),
])
def test_what_a_hostile_reviewer_found_on_the_command_line_is_refused(fresh_plugins, tmp_path, args, needle):
    _refused(tmp_path, args, needle)


@pytest.mark.parametrize("args, needle", [
    (["plan", "--models", "blip2:tiny", "--effective-batch", "1048576"], "plan estimates budgets up to 4096"),
    (["plan", "--models", "blip2:tiny", "--effective-batch", "0"], "--effective-batch must be greater than"),
    (["plan", "--models", "blip2:tiny", "--text-tokens", "1000000000000"], "--text-tokens must be an integer"),
    (["compare", ".", ".", "--threshold", "nan"], "--threshold must be a number"),
])
def test_plan_and_compare_refuse_values_that_would_hang_or_disarm_them(fresh_plugins, tmp_path, args, needle):
    before = _snapshot(tmp_path)
    assert_one_line_error(invoke(*args), needle)
    assert _snapshot(tmp_path) == before


def test_digits_sizes_beyond_the_domain_are_refused_at_plan_time(fresh_plugins, tmp_path):
    suite = tmp_path / "d.toml"
    suite.write_text('[suite]\nmethods = ["full"]\nmodels = ["vit:tiny"]\n[dataset]\nname = "digits"\n'
                     "train_size = 800\neval_size = 800\n")
    _refused(tmp_path, ["run", "--suite", suite], "dataset digits: domain target has")


@pytest.mark.parametrize("table, needle", [
    ('[models.blip2]\nbogus = 1', "[models.blip2] table: blip2 has no option 'bogus'"),
    ('[methods.frozen-top]\nkk = 1', "[methods.frozen-top] table: method 'frozen-top' has no option 'kk'"),
    ('[methods.zero-shot]\nr = 4', "[methods.zero-shot] table: method 'zero-shot' has no option 'r'"),
])
def test_an_option_table_no_entry_would_use_is_still_checked(fresh_plugins, tmp_path, table, needle):
    """Issue 23: an option under [models.X] / [methods.X] is refused at plan time, never silently ignored."""
    suite = tmp_path / "t.toml"
    suite.write_text(TINY + "\n" + table + "\n")
    _refused(tmp_path, ["run", "--suite", suite, "--dry-run"], needle)


def test_a_plugin_check_that_raises_is_one_line_naming_the_plugin(fresh_plugins, tmp_path, monkeypatch):
    """Issue 23: a check(meta_bundle) that treats meta_bundle as the bundle ended in a 41-line traceback."""
    from benchhub_plugins.methods import lora

    monkeypatch.setattr(lora.Lora, "check", lambda self, meta_bundle: meta_bundle.towers)
    _refused(tmp_path, ["run", "--suite", "tiny", "--methods", "lora", "--dry-run"],
             "method 'lora' (benchhub_plugins.methods.lora): its check(meta_bundle) raised AttributeError")


@pytest.mark.parametrize("target, attribute, hook", [
    ("benchhub_plugins.methods.lora.Lora", "__init__", "method 'lora' (benchhub_plugins.methods.lora): its __init__ "
                                                       "raised ValueError: plugin bug"),
    ("benchhub_plugins.datasets.shapes.Shapes", "check", "dataset 'shapes' (benchhub_plugins.datasets.shapes): its "
                                                         "check() raised ValueError: plugin bug"),
    ("benchhub_plugins.models.blip2.Blip2", "meta_bundle", "model 'blip2:tiny' (benchhub_plugins.models.blip2): its "
                                                           "meta_bundle() raised ValueError: plugin bug"),  # frozen-top's check calls it
])
def test_an_exception_from_any_plugin_hook_is_one_line_naming_plugin_and_hook(fresh_plugins, tmp_path, monkeypatch,
                                                                               target, attribute, hook):
    """Issue 23: a plugin's bug at plan time is exit 2 with one line naming the plugin and the hook; --verbose
    prints its traceback above that line."""
    import importlib

    module, cls = target.rsplit(".", 1)
    klass = getattr(importlib.import_module(module), cls)
    original = getattr(klass, attribute)

    def broken(self, *args, **kwargs):
        if attribute == "__init__":
            original(self, *args, **kwargs)
        raise ValueError("plugin bug\nsecond line")

    monkeypatch.setattr(klass, attribute, broken)
    method = "frozen-top(k=1)" if attribute == "meta_bundle" else "lora"
    args = ["run", "--suite", "tiny", "--methods", method, "--dry-run"] if attribute != "check" else \
        ["run", "--suite", "tiny", "--methods", method]
    _refused(tmp_path, args, hook)
    verbose = invoke("--verbose", *args, "--results", tmp_path / "results")
    assert verbose.exit_code == 2 and "Traceback" in verbose.output and "ValueError: plugin bug" in verbose.output
    assert verbose.output.rstrip().splitlines()[-1].startswith("Error: ") and "--verbose" not in verbose.output


def test_a_method_that_leaves_a_labelled_head_frozen_is_refused_on_classification(fresh_plugins, tmp_path):
    """Issue 23: frozen-top without its head scored 0.000 on vit-digits' new labels, like zero-shot, silently."""
    _refused(tmp_path, ["run", "--suite", "vit-digits", "--methods", "frozen-top(head=false)", "--dry-run"],
             "method 'frozen-top(head=false)' leaves vit:tiny's labelled head (classifier) frozen, so it cannot "
             "learn the dataset's labels")
    fine = invoke("run", "--suite", "vit-digits", "--methods", "frozen-top(head=true),lora,ia3", "--dry-run",
                  "--results", tmp_path / "results")
    assert fine.exit_code == 0, fine.output  # adapters train the head beside them (modules_to_save)
    captions = invoke("run", "--suite", "tiny", "--methods", "frozen-top(head=false)", "--dry-run",
                      "--results", tmp_path / "results")
    assert captions.exit_code == 0, captions.output  # a captioning head is the language model's, not labels


@pytest.mark.parametrize("value", ["0", "-5", "x", "1e3"])
def test_a_bad_checkpoint_every_is_refused_before_anything_runs(tmp_path, value):
    _refused(tmp_path, ["run", "--suite", "tiny", "--checkpoint-every", value], "--checkpoint-every")
