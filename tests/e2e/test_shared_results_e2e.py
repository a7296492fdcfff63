"""Real `benchhub run`s on one results directory (issue 13): records not understood never stop a matrix and are
redone only with --force; two concurrent runs split the matrix; a preparation past --timeout leaves a clean
cache; an over-long caption is truncated and said once."""
import json
import os
import re
import subprocess
import sys

import pytest

from cli_helpers import invoke

pytestmark = pytest.mark.slow
MALFORMED = ('{"schema_version":1,"run_id":"0000000000000000","config":{},"status":"ok","metrics":{},"batching":{},'
             '"environment":{}}')


def _text(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_a_record_not_understood_never_stops_the_matrix_and_is_redone_only_with_force(fresh_plugins, tmp_path):
    results = tmp_path / "R"
    (results / "tiny").mkdir(parents=True)
    (results / "tiny" / "x__y__seed0__0000000000000000.json").write_text(MALFORMED)
    args = ["run", "--suite", "tiny", "--methods", "lora(r=4),lora(r=2)", "--results", results]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "x__y__seed0__0000000000000000.json is not a record this benchhub understands" in _text(first)
    assert "2 ran, 0 reused, 0 failed" in first.output
    assert (results / "tiny" / "x__y__seed0__0000000000000000.json.invalid").read_text() == MALFORMED
    r2 = next((results / "tiny").glob("blip2-tiny__lora-r-2__*.json"))
    r2.write_text(r2.read_text()[:100])  # truncated
    again = invoke(*args)
    assert again.exit_code == 1 and "not run" in again.output and "`--force` re-runs" in _text(again)
    assert "0 ran, 1 reused" in again.output and not r2.exists()
    aside = r2.with_name(r2.name + ".invalid")
    assert len(aside.read_text()) == 100  # set aside whole, never overwritten
    forced = invoke(*args, "--force")
    assert forced.exit_code == 0 and "2 ran" in forced.output, forced.output
    assert json.loads(r2.read_text())["status"] == "ok" and len(aside.read_text()) == 100


def _summary(output: str) -> tuple[int, int]:
    ran, reused = re.search(r"(\d+) ran, (\d+) reused, 0 failed", output).groups()
    return int(ran), int(reused)


def test_two_concurrent_runs_split_the_matrix_and_mark_busy_timings(tmp_path):
    cmd = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--results", str(tmp_path),
           "--methods", "lora(r=2),lora(r=4),full", "--jobs", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    counts = [_summary(o) for o in outputs]
    assert sum(ran for ran, _ in counts) == 3 and all(ran + reused == 3 for ran, reused in counts), outputs
    records = [json.loads(p.read_text()) for p in (tmp_path / "tiny").glob("*__*.json")]
    assert len(records) == 3 and all(r["load"]["cores"] >= 1 for r in records)
    if any(r["load"]["busy"] for r in records):  # runs of the two processes overlapped
        assert "‡ timed on a busy machine" in (tmp_path / "tiny" / "leaderboard.md").read_text()
    assert min(ran for ran, _ in counts) >= 1, outputs  # both computed: the matrix was split


def test_a_preparation_past_the_timeout_fails_its_runs_and_leaves_the_cache_clean(tmp_path):
    # a process of its own: run children inherit the environment benchhub's forkserver started with
    env = {**os.environ, "BENCHHUB_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--methods", "lora",
                             "--models", "blip2:tiny(pretrain_steps=100000)", "--timeout", "5", "--results",
                             str(tmp_path / "R")], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    record = json.loads(next((tmp_path / "R" / "tiny").glob("*__*.json")).read_text())
    assert record["error"] == "model preparation failed: timed out after 5 s"
    assert not [p for p in (tmp_path / "cache").rglob("*") if ".tmp" in p.name]


def test_an_over_long_caption_is_truncated_and_said_once(fresh_plugins, tmp_path):
    from PIL import Image

    folder = tmp_path / "folder"
    folder.mkdir()
    rows = []
    for i in range(6):
        Image.new("RGB", (16, 16), (40 * i, 0, 0)).save(folder / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "text": " ".join(["a red circle on the left"] * 20)})
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    suite = tmp_path / "long.toml"
    suite.write_text('[suite]\nname = "long"\nmethods = ["lora"]\nmodels = ["blip2:tiny"]\n'
                     f'[budget]\nmax_steps = 2\n[dataset]\nname = "imagefolder"\ndata_dir = "{folder}"\n')
    result = invoke("run", "--suite", suite, "--results", tmp_path / "R")
    assert result.exit_code == 0, result.output
    assert _text(result).count("captions longer than the model's") == 1
    notes = [json.loads(p.read_text())["data"]["notes"] for p in (tmp_path / "R" / "long").glob("*__*.json")]
    assert len(notes) == 1 and all("captions longer than the model's 56 tokens are truncated to it" in n
                                   for n in notes)


def _stamps(folder):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*__*.json")}


def test_force_redoes_what_was_recorded_before_it_started_never_what_another_run_recorded_since(
        fresh_plugins, tmp_path, monkeypatch):
    from benchhub import matrix
    from benchhub.store import Store, read_record

    args = ("run", "--suite", "tiny", "--methods", "zero-shot", "--results", tmp_path)
    assert invoke(*args).exit_code == 0
    (path,) = (tmp_path / "tiny").glob("*__*.json")
    start = matrix._Runner.start

    def another_process_records_it_meanwhile(self, cell):  # after this command started, before it gets there
        Store(tmp_path, "tiny").write(read_record(path), path)
        return start(self, cell)

    monkeypatch.setattr(matrix._Runner, "start", another_process_records_it_meanwhile)
    forced = invoke(*args, "--force")
    assert forced.exit_code == 0 and "0 ran, 1 reused" in forced.output, forced.output
    monkeypatch.setattr(matrix._Runner, "start", start)
    before = _stamps(tmp_path / "tiny")
    forced = invoke(*args, "--force")  # recorded before this command: re-measured
    assert forced.exit_code == 0 and "1 ran, 0 reused" in forced.output, forced.output
    assert _stamps(tmp_path / "tiny").keys() == before.keys() and _stamps(tmp_path / "tiny") != before


def test_two_staggered_force_runs_remeasure_each_record_once(tmp_path):
    """The kill drill's --force twin: a second `--force` started while the first is computing re-measures only
    what was recorded before it started; together they re-measure every record exactly once."""
    import time

    base = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--results", str(tmp_path),
            "--methods", "lora(lr=[1e-3,5e-3])", "--jobs", "1", "--max-steps", "4"]
    assert subprocess.run(base, capture_output=True, timeout=600).returncode == 0
    folder = tmp_path / "tiny"
    old = _stamps(folder)
    first = subprocess.Popen(base + ["--force"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not list((folder / ".claims").glob("*.lock")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the first holds a claim: it is computing, nothing re-recorded yet
    second = subprocess.Popen(base + ["--force"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert all(p.returncode == 0 for p in (first, second)), outputs
    new = _stamps(folder)
    assert new.keys() == old.keys() and all(new[k] != old[k] for k in old), outputs  # every record re-measured
    ran = [_summary(o)[0] for o in outputs]
    assert sum(ran) == len(old), (ran, outputs)  # ... exactly once
