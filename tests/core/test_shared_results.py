"""A results directory many writers share (issue 13, points 1-3): records not understood set aside and never
overwritten, claims on runs (stale ones taken over), temporary files of dead writers removed, the load
recorded and busy timings marked."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from benchhub import claims
from benchhub.checkpoints import cached_checkpoint
from benchhub.fileio import atomic_write, owner_tag, remove_orphans
from benchhub.store import Store

from test_store import _stored

HOLD = """
import sys, time
from pathlib import Path
from benchhub import claims
held = claims.claim(Path(sys.argv[1]), sys.argv[2])
print("held" if not isinstance(held, dict) else "busy", flush=True)
time.sleep(60)
"""


def _holder(directory, run_id):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory), run_id], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_claim_excludes_other_processes_until_its_owner_dies(tmp_path):
    proc = _holder(tmp_path, "run1")
    try:
        owner = claims.claim(tmp_path, "run1")
        assert isinstance(owner, dict) and owner["pid"] == proc.pid and owner["host"]
        mine = claims.claim(tmp_path, "run2")  # another run is free
        assert not isinstance(mine, dict)
        mine.release()
        assert not (tmp_path / ".claims" / "run2.lock").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    taken = claims.claim(tmp_path, "run1")  # the dead owner's lock went with it: a stale claim
    assert not isinstance(taken, dict) and f"pid {proc.pid}" in taken.taken_over
    assert json.loads((tmp_path / ".claims" / "run1.lock").read_text())["pid"] == os.getpid()
    taken.release()


def test_active_runs_count_this_hosts_runs_and_forget_dead_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHHUB_ACTIVE_DIR", str(tmp_path))
    assert claims.active_runs() == (0, 0)
    with claims.active_run("a"):
        assert claims.active_runs() == (1, 0)
    (tmp_path / "999999-dead-1.run").write_text("")  # nobody holds it: its owner died
    assert claims.active_runs() == (0, 0) and not (tmp_path / "999999-dead-1.run").exists()


def test_the_load_sampler_calls_a_run_busy_when_other_benchhub_runs_were_active():
    sampler = claims.LoadSampler()
    now = time.monotonic()
    sampler.samples = [(now - 5, 0.5, 1, 0), (now - 3, 0.7, 2, 1)]
    load = sampler.over(now - 6, now)
    assert load["busy"] and load["other_benchhub_runs_max"] == 1 and "other benchhub" in load["why"]
    sampler.samples = [(now - 5, 0.1, 1, 0)]
    quiet = sampler.over(now - 6, now - 4)
    assert quiet["cores"] >= 1 and quiet["samples"] >= 1
    assert quiet["busy"] == (quiet["loadavg_1m_mean"] > claims.LoadSampler.BUSY_LOAD * quiet["cores"])


def test_temporary_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    host = owner_tag().rsplit("-", 1)[0]
    dead = tmp_path / f".x__y.json.{host}-999999.abc.tmp"
    live = tmp_path / f".x__y.json.{owner_tag()}.abc.tmp"
    legacy = tmp_path / ".x__y.json.k2j3.tmp"  # an older benchhub's: no owner in the name
    old_legacy = tmp_path / ".z__y.json.k2j3.tmp"
    for path in (dead, live, legacy, old_legacy):
        path.write_text("")
    os.utime(old_legacy, (time.time() - 7200, time.time() - 7200))
    assert sorted(remove_orphans(tmp_path, "*.tmp")) == sorted([dead, old_legacy])
    assert live.exists() and legacy.exists()
    atomic_write(tmp_path / "r.json", "{}")
    assert [p.name for p in tmp_path.glob("*.tmp")] and (tmp_path / "r.json").read_text() == "{}"


def test_a_failed_or_killed_preparation_leaves_the_cache_clean(tmp_path):
    target = tmp_path / "blip2-tiny-abc"
    (tmp_path / "blip2-tiny-abc.tmp999999").mkdir()  # a preparation killed earlier (dead PID)

    def boom(tmp):
        (tmp / "half.bin").write_text("x")
        raise KeyboardInterrupt  # as a timeout's SIGTERM or Ctrl-C unwinds

    with pytest.raises(KeyboardInterrupt):
        cached_checkpoint(target, boom)
    assert list(tmp_path.iterdir()) == []
    assert cached_checkpoint(target, lambda tmp: {"made": 1})["made"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["blip2-tiny-abc"]


def test_tidy_sets_aside_what_it_does_not_understand_and_never_overwrites(tmp_path):
    store = Store(tmp_path, "s")
    record, good = _stored(store)
    bad = store.dir / "m__x__seed0__00000000000000aa.json"
    bad.write_text('{"trunc')
    (store.dir / "m__x__seed0__00000000000000aa.json.invalid").write_text("an earlier one")
    newer = store.dir / "m__x__seed1__00000000000000bb.json"
    newer.write_text(json.dumps({"schema_version": 99, "run_id": "00000000000000bb"}))
    wrong_id = store.dir / "m__x__seed2__00000000000000cc.json"
    wrong_id.write_text(good.read_text())  # a copy under another run's name
    blocked, lines = store.tidy()
    assert set(blocked) == {"00000000000000aa", "00000000000000bb", "00000000000000cc"}
    assert (store.dir / "m__x__seed0__00000000000000aa.json.1.invalid").read_text() == '{"trunc'
    assert (store.dir / "m__x__seed0__00000000000000aa.json.invalid").read_text() == "an earlier one"
    assert newer.exists() and "newer benchhub" in blocked["00000000000000bb"]  # left for the newer benchhub
    assert (store.dir / "m__x__seed2__00000000000000cc.json.invalid").exists() and not wrong_id.exists()
    assert len(lines) == 3 and store.records() == [record]
    assert set(store.tidy()[0]) == set(blocked) and store.tidy()[1] == ["m__x__seed1__00000000000000bb.json was "
                                                                       f"{blocked['00000000000000bb']}; left as it "
                                                                       "is, its run is not re-run"]
    blocked, lines = store.tidy(force=True)  # --force: nothing blocks, the newer one is moved aside too
    assert blocked == {} and not newer.exists() and len(lines) == 1
