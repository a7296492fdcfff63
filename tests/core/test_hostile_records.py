"""Record files that parse but do not fit the record schema (issue 22, point 6), and files named like records
that are not files: through the real CLI, `report` and `run --dry-run` go on without them, `show` names the
file in one line, `run` sets each aside as `*.invalid` with its reason and runs its whole matrix, nothing
blocks on a FIFO, and `predict` never loads weights from outside the results directory."""
import copy
import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest

from benchhub import record_schema
from benchhub.records import SchemaError, upgrade
from benchhub.store import load_record, read_record
from cli_helpers import assert_one_line_error, invoke

WAIT = 120  # seconds a command that reads records may take here; it never waits on a FIFO
ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted(ROOT.glob("results/*/*__*.json"))
GOLDEN = sorted((ROOT / "tests" / "golden").glob("**/*__*.json"))
# a real record with every part a reader looks at: train, eval samples, per-example scores, a selection
BASE = next(p for p in COMMITTED if "__lora__seed0__" in p.name)


def _base() -> dict:
    return json.loads(BASE.read_text())


def _set(data: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for key in head:
        data = data[key]
    data[last] = value


def _shorter(data):
    split = data["per_example"]["eval"]
    name = next(k for k in split if k != "ids")
    split[name] = split[name][:-1]


def _deep(data):
    return json.dumps(data)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"


# (id, what is done to the record: {path: value} or a function of it, a needle of the one-line reason)
DAMAGE = [
    ("batching-empty", {"batching": {}}, "batching.effective_batch is required"),
    ("train-seconds-text", {"train.seconds": "fast"}, "train.seconds must be a number, got 'fast'"),
    ("loss-curve-text", {"train.loss_curve": "abc"}, "train.loss_curve must be a list, got 'abc'"),
    ("loss-curve-item", {"train.loss_curve": [1.0, "x"]}, "train.loss_curve[1] must be a number"),
    ("parameters-text", {"parameters": "many"}, "parameters must be a table, got 'many'"),
    ("eval-samples-text", {"eval.samples": "x"}, "eval.samples must be a list, got 'x'"),
    ("versions-number", {"environment.versions": 5}, "environment.versions must be a table, got 5"),
    ("identity-text", {"identity": "x"}, "identity must be a table, got 'x'"),
    ("per-example-short", _shorter, "scores for 200 ids"),
    ("max-steps-negative", {"config.budget.max_steps": -1},
     "config.budget.max_steps must be greater than or equal to 1, got -1"),
    ("weights-absolute", {"weights": "/etc"}, "weights must be a path inside the results directory"),
    ("weights-escape", {"weights": "../../elsewhere"}, "weights must stay inside the results directory"),
    ("log-absolute", {"log": "/var/log/syslog"}, "log must be a path inside the results directory"),
    ("metric-text", {"metrics.CIDEr": "high"}, "metrics.CIDEr must be a number, got 'high'"),
    ("metric-nan", {"metrics.CIDEr": float("nan")}, "metrics.CIDEr must be a finite number, got nan"),
    ("seconds-infinite", {"train.seconds": float("inf")}, "train.seconds must be a finite number, got inf"),
    ("unknown-key-nan", {"train.extra": [float("-inf")]}, "train.extra[0] must be a finite number, got -inf"),
    ("seed-text", {"config.seed": "0"}, "config.seed must be an integer, got '0'"),
    ("seed-negative", {"config.seed": -1}, "config.seed must be greater than or equal to 0"),
    ("seed-bool", {"config.seed": True}, "config.seed must be an integer, got true"),
    ("lr-text", {"config.method.lr": "fast"}, "config.method.lr must be a number"),
    ("peak-negative", {"memory.peak_bytes": -5}, "memory.peak_bytes must be greater than or equal to 0"),
    ("memory-split-partial", {"memory.split": {"weights_bytes": 1}}, "memory.split.gradients_bytes is required"),
    ("trial-fits-text", {"memory.search.trials": [{"micro_batch": 16, "fits": "yes"}]},
     "memory.search.trials[0].fits must be true or false"),
    ("scores-number", {"scores.source": 5}, "scores.source must be a table, got 5"),
    ("selection-chosen", {"selection.chosen": "x"}, "selection.chosen must be a number"),
    ("role-unknown", {"role": "boss"}, "role must be 'rung', 'sweep' or 'final', got 'boss'"),
    ("started-number", {"started_at": 5}, "started_at must be a string"),
    ("status-number", {"status": 5}, "unknown status 5"),
    ("status-list", {"status": []}, "unknown status []"),
    ("model-extra-key", {"config.model": {"name": "blip2:tiny", "options": {}, "hidden": 4}},
     "unknown config.model key 'hidden'"),
    ("budget-unknown-key", {"config.budget.max_step": 5}, "unknown config.budget key 'max_step'"),
    ("budget-micro-batch", {"config.budget.micro_batch": 3}, "micro-batch 3 does not divide effective batch 16"),
    ("code-not-modules", {"identity.code": {"benchhub./etc/passwd": "abc"}}, "identity.code"),
    ("notes-text", {"data.notes": "abc"}, "data.notes must be a list"),
    ("load-why-number", {"load.why": 5}, "load.why must be a string"),
    ("columns-text", {"scoring.columns": "CIDEr"}, "scoring.columns must be a list"),
    ("references-empty", {"eval.samples": [{"prediction": "a", "references": []}]},
     "eval.samples[0].references must have at least 1 item"),
    ("environment-list", {"environment": []}, "environment must be a table, got []"),
    ("memory-null", {"memory": None}, "memory must be a table, got None"),
    ("scoring-null", {"scoring": None}, "scoring must be a table, got None"),
    ("metrics-null", {"metrics": None}, "metrics must be a table, got None"),
    ("split-metrics-null", {"scores.source.metrics": None}, "scores.source.metrics must be a table, got None"),
    ("samples-null", {"eval.samples": None}, "eval.samples must be a list, got None"),
    ("code-null", {"identity.code": None}, "identity.code must be a table, got None"),
    ("higher-null", {"scoring.higher_is_better": None}, "scoring.higher_is_better must be a table, got None"),
    ("manifest-null", {"parameters.manifest": None}, "parameters.manifest must be a table, got None"),
    ("notes-null", {"data.notes": None}, "data.notes must be a list, got None"),
    ("metrics-text", {"config.metrics": "coco"}, "config.metrics must be a list"),
    ("ids-text", {"per_example.eval.ids": "abc"}, "per_example.eval.ids must be a list"),
    ("trainable-negative", {"parameters.trainable": -1}, "parameters.trainable must be greater than or equal to 0"),
    ("train-list", {"train": []}, "train must be a table, got []"),
    ("run-id-path", {"run_id": "../x"}, "run_id must be 1 to 64 letters"),
    ("schema-version-zero", {"schema_version": 0}, "schema_version must be 1 to 3, got 0"),
    ("schema-version-bool", {"schema_version": True}, "not a benchhub record"),
    ("wall-negative", {"wall_seconds": -1}, "wall_seconds must be greater than or equal to 0"),
    ("validation-fraction", {"config.validation_fraction": 1.5}, "config.validation_fraction must be less than 1"),
    ("schema-2-damaged", {"schema_version": 2, "train.seconds": "fast"}, "train.seconds must be a number"),
    ("not-unicode", {"error": "\ud800"}, "error is not valid Unicode text"),
    ("nested-deeply", _deep, "nested too deeply"),
]
DAMAGE += [  # a reviewer's second pass: values that fit JSON but no reader's arithmetic or plot
    ("peak-bytes-huge", {"memory.peak_bytes": 10**400}, "memory.peak_bytes must be less than or equal to"),
    ("score-huge", {"metrics.CIDEr": 1e308}, "metrics.CIDEr must be less than or equal to"),
    ("seconds-huge", {"train.seconds": 1e308}, "train.seconds must be less than or equal to"),
]
IDS = [d[0] for d in DAMAGE]


def _damaged(change, run_id: str) -> str:
    """The base record with `change` applied, as the text of its file (under `run_id`)."""
    data = _base()
    data["run_id"] = run_id
    if callable(change):
        text = change(data)
        return text if isinstance(text, str) else json.dumps(data)
    for path, value in change.items():
        _set(data, path, copy.deepcopy(value))
    if "run_id" in change:
        data["run_id"] = change["run_id"]
    return json.dumps(data)  # NaN / Infinity as Python's json writes (and reads) them


def _write(directory: Path, change, run_id: str, name: str = "blip2-tiny__lora__seed0") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}__{run_id}.json"
    path.write_text(_damaged(change, run_id))
    return path


def _within(seconds: float, call, unblock=()):
    """call() on a thread; fails when it has not returned after `seconds` (then opens each FIFO in `unblock`
    for writing, so a reader stuck on one ends)."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", call()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in unblock:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        thread.join(10)
        pytest.fail(f"still running after {seconds} s (blocked on a file named like a record?)")
    return out["result"]


def _flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


# ---------------------------------------------------------------- the schema itself


def test_every_committed_and_golden_record_fits_the_schema():
    assert COMMITTED and GOLDEN
    problems = {p.name: load_record(p)[1] for p in COMMITTED + GOLDEN}
    assert {name: why for name, why in problems.items() if why is not None} == {}


def test_the_base_record_fits_and_each_damage_is_named_in_one_line(tmp_path):
    assert record_schema.check(upgrade(_base())) is None
    for name, change, needle in DAMAGE:
        path = _write(tmp_path, change, f"{IDS.index(name):016x}")
        record, why = load_record(path)
        assert record is None and why is not None, name
        assert needle in why and "\n" not in why and len(why) < 300, (name, why)


def test_schema_errors_name_the_field_path():
    data = upgrade(_base())
    data["train"] = {**data["train"], "seconds": "fast"}
    with pytest.raises(SchemaError, match=r"^train.seconds must be a number, got 'fast'$"):
        upgrade(data)


def test_weights_of_a_remote_executor_may_be_absolute_but_never_escape():
    data = upgrade({**_base(), "executor": {"name": "ray", "node": "10.0.0.2"}, "weights": "/shared/w/x"})
    assert record_schema.check(data) is None
    assert "weights must stay inside" in record_schema.check({**data, "weights": "weights/../../x"})


# ---------------------------------------------------------------- through the command line


@pytest.mark.parametrize("name, change, needle", DAMAGE, ids=IDS)
def test_show_names_a_damaged_record_in_one_line(tmp_path, name, change, needle):
    path = _write(tmp_path / "default", change, "00000000000000aa")
    result = invoke("show", "00000000000000aa", "--results", tmp_path)
    assert_one_line_error(result, f"{path} is not a benchhub record this version understands")
    assert needle in result.output
    assert path.read_bytes() == _damaged(change, "00000000000000aa").encode()  # show changes nothing


def test_report_and_show_go_on_without_damaged_records(tmp_path):
    suite = tmp_path / "default"
    suite.mkdir()
    good = suite / BASE.name
    good.write_text(BASE.read_text())
    damaged = [_write(suite, change, f"{i:016x}") for i, (_, change, _) in enumerate(DAMAGE)]
    result = invoke("report", "--results", tmp_path)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert f"{suite / 'leaderboard.md'} (1 records)" in result.output
    assert f"left out {len(damaged)} file(s) that are not records this benchhub understands" in result.output
    assert all(p.exists() for p in damaged)  # report leaves them where they are: `run` sets them aside
    shown = invoke("show", BASE.stem.rsplit("__", 1)[-1], "--results", tmp_path)
    assert shown.exit_code == 0 and f"run {BASE.stem.rsplit('__', 1)[-1]}" in shown.output, shown.output


def _planned_run_ids(suite) -> list[str]:
    dry = invoke("run", "--suite", suite, "--seeds", "0,1", "--dry-run", "--results", suite.parent / "unused")
    assert dry.exit_code == 0, dry.output
    return re.findall(r"\b[0-9a-f]{16}\b", dry.output)


@pytest.mark.parametrize("name, change, needle", DAMAGE, ids=IDS)
def test_dry_run_says_a_run_whose_record_is_damaged_waits_for_force(toy, toy_suite, tmp_path, name, change, needle):
    suite = toy_suite(["full"])
    run_id = _planned_run_ids(suite)[0]
    path = _write(tmp_path / "results" / "toy", change, run_id, name="toy__full__seed0")
    result = invoke("run", "--suite", suite, "--seeds", "0,1", "--dry-run", "--results", tmp_path / "results")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert re.search(rf"{run_id}\s+not run: its record is not understood", result.output), result.output
    forced = invoke("run", "--suite", suite, "--seeds", "0,1", "--dry-run", "--force", "--results",
                    tmp_path / "results")
    assert re.search(rf"{run_id}\s+run\b", forced.output), forced.output  # as `run --force` would
    assert path.exists()  # a dry run sets nothing aside


def _odd_files(directory: Path, run_ids: list[str]) -> list[Path]:
    """A FIFO and a directory named like the records of `run_ids`, and (where the path is short enough for
    one) a socket named like a record."""
    directory.mkdir(parents=True, exist_ok=True)
    fifo = directory / f"toy__full__seed0__{run_ids[0]}.json"
    os.mkfifo(fifo)
    folder = directory / f"toy__full__seed1__{run_ids[1]}.json"
    folder.mkdir()
    odd = [fifo, folder]
    sock_path = directory / "x__y__seed0__0000000000000abc.json"
    if len(str(sock_path)) < 100:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(sock_path))
        sock.close()
        odd.append(sock_path)
    return odd


def test_files_named_like_records_that_are_not_files_are_never_opened(toy, toy_suite, tmp_path):
    suite = toy_suite(["full"])
    run_ids = _planned_run_ids(suite)
    results = tmp_path / "results"
    odd = _odd_files(results / "toy", run_ids)
    (results / "toy" / BASE.name).write_text(BASE.read_text())  # something to report
    for args in (["run", "--suite", suite, "--seeds", "0,1", "--dry-run"], ["report"], ["show", run_ids[0]],
                 ["show", str(odd[0])]):
        result = _within(WAIT, lambda: invoke(*args, "--results", results), unblock=odd[:1])
        assert "Traceback" not in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.output)
        if args[0] == "show":
            assert_one_line_error(result, "no run")
        else:
            assert result.exit_code == 0, (args, result.output)
    assert all(p.exists() and not p.is_file() for p in odd)


def test_a_matrix_runs_whole_with_damaged_records_beside_it(toy, toy_suite, tmp_path):
    """`run` sets every damaged record aside as `*.invalid`, saying why, skips what is not a file, and runs
    every run of its two-seed matrix; a damaged record of one of its own runs holds that run (named, exit 1)
    until --force."""
    suite = toy_suite(["full"])
    run_ids = _planned_run_ids(suite)
    directory = tmp_path / "results" / "toy"
    damaged = {name: _write(directory, change, f"{i:016x}") for i, (name, change, _) in enumerate(DAMAGE)}
    odd = _odd_files(directory, ["f" * 16, "e" * 16])
    args = ("run", "--suite", suite, "--seeds", "0,1", "--results", tmp_path / "results")
    first = _within(600, lambda: invoke(*args), unblock=odd[:1])
    assert first.exit_code == 0 and "Traceback" not in first.output, first.output
    flat = _flat(first.output)
    assert "2 ran, 0 reused, 0 failed" in flat, flat
    for (name, _, needle), path in zip(DAMAGE, damaged.values()):
        assert not path.exists() and path.with_name(path.name + ".invalid").is_file(), name
        assert f"{path.name} is not a record this benchhub understands" in flat, name
        assert _flat(needle) in flat, (name, needle)
    assert all(p.exists() and not p.is_file() for p in odd)
    assert sorted(p.name for p in directory.glob("toy__full__seed*.json") if p.is_file()) == sorted(
        f"toy__full__seed{seed}__{run_id}.json" for seed, run_id in zip((0, 1), run_ids))

    own = next(directory.glob(f"toy__full__seed0__{run_ids[0]}.json"))
    data = json.loads(own.read_text())
    data["train"]["seconds"] = "fast"
    own.write_text(json.dumps(data))
    held = _within(600, lambda: invoke(*args))
    flat = _flat(held.output)
    assert held.exit_code == 1 and "Traceback" not in held.output, held.output
    assert f"{own.name} is not a record this benchhub understands (train.seconds must be a number, got " \
           f"'fast'); set aside as {own.name}.invalid" in flat, flat
    assert "not run 1: a record not understood holds their run id" in flat and "0 ran, 1 reused" in flat, flat
    forced = _within(600, lambda: invoke(*args[:4], "0", *args[5:], "--force"))
    assert forced.exit_code == 0 and "1 ran" in _flat(forced.output), forced.output
    assert read_record(own) is not None


# ---------------------------------------------------------------- predict: weights only from the results directory


def _png(path):
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)
    return path


def _with_weights(tmp_path, weights, executor="local"):
    data = _base()
    data["weights"], data["executor"] = weights, {"name": executor}
    path = tmp_path / "results" / "default" / BASE.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path, data["run_id"]


def test_predict_refuses_a_record_with_an_absolute_weights_path(fresh_plugins, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path, run_id = _with_weights(tmp_path, str(elsewhere))
    result = invoke("predict", run_id, _png(tmp_path / "a.png"), "--results", tmp_path / "results")
    assert_one_line_error(result, f"{path} is not a benchhub record this version understands: weights must be a "
                                  "path inside the results directory, not an absolute one")


def test_predict_never_loads_weights_from_outside_the_results_directory(fresh_plugins, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    image = _png(tmp_path / "a.png")
    path, run_id = _with_weights(tmp_path, str(elsewhere), executor="ray")  # a Ray worker's folder: allowed
    result = invoke("predict", run_id, image, "--results", tmp_path / "results")
    local = path.parent.resolve() / "weights" / path.stem
    assert_one_line_error(result, f"weights ({elsewhere}) are outside its results directory")
    assert f"copy them to {local}" in result.output
    (path.parent / "weights").mkdir()
    (path.parent / "weights" / "link").symlink_to(elsewhere)  # inside by name, outside once resolved
    path, run_id = _with_weights(tmp_path, "weights/link")
    result = invoke("predict", run_id, image, "--results", tmp_path / "results")
    assert_one_line_error(result, "are outside its results directory")


def _paths(data, prefix=(), depth=3):
    """Every key path of a record down to `depth` (lists' first element only)."""
    for key, value in data.items() if isinstance(data, dict) else []:
        yield (*prefix, key)
        if depth > 1:
            yield from _paths(value, (*prefix, key), depth - 1)


@pytest.mark.parametrize("how", ["missing", "null"])
def test_show_takes_every_record_the_schema_accepts(tmp_path, how):
    """Every key of a real record dropped (or set to null) in turn: what the schema accepts, `show` prints."""
    accepted = 0
    for path in _paths(_base()):
        data = _base()
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if how == "missing":
            del parent[path[-1]]
        else:
            parent[path[-1]] = None
        try:
            if record_schema.check(upgrade(copy.deepcopy(data))) is not None:
                continue
        except SchemaError:
            continue
        accepted += 1
        (tmp_path / "default").mkdir(exist_ok=True)
        file = tmp_path / "default" / BASE.name
        file.write_text(json.dumps(data))
        result = invoke("show", str(file), "--results", tmp_path)
        assert result.exit_code == 0 and "Traceback" not in result.output, (path, result.output)
    assert accepted > 20


def test_a_record_file_too_large_to_be_a_record_is_never_read_whole(tmp_path):
    from benchhub.store import MAX_RECORD_BYTES

    path = tmp_path / "blip2-tiny__lora__seed0__00000000000000bb.json"
    with open(path, "wb") as fh:
        fh.truncate(MAX_RECORD_BYTES + 1)  # sparse: no disk used
    record, why = load_record(path)
    assert record is None and "a record is at most" in why


def test_show_never_sends_a_records_control_characters_to_the_terminal(tmp_path):
    path = _write(tmp_path / "default", {"config.method_label": "lora\x1b]0;pwned\x07"}, "00000000000000cc")
    result = invoke("show", str(path), "--results", tmp_path)
    assert result.exit_code == 0 and "\x1b" not in result.output and "\\x1b]0;pwned\\x07" in result.output
