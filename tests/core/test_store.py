"""Results on disk: one JSON record per run, written whole with the usual permissions; lookups by run id."""
import json
import re
import os
import stat

import pytest

from benchhub.budget import Budget
from benchhub.errors import UserError
from benchhub.records import RunRecord, make_record
from benchhub.spec import ComponentSpec, RunSpec
from benchhub.store import Store, find_record, load_record, read_record, suite_stores


def _spec(seed=0, method="lora(r=8)"):
    return RunSpec(suite="my suite", method=ComponentSpec("lora", {"r": 8}), model=ComponentSpec("blip2:tiny"),
                   dataset=ComponentSpec("shapes"), metrics=(), budget=Budget(), seed=seed, lr=1e-3,
                   method_label=method)


def _stored(store, seed=0, run_id=None, status="ok"):
    spec = _spec(seed)
    run_id = run_id or f"{seed:016x}"
    record = make_record(spec, run_id, {"status": status}, environment={"device": "cpu"}, identity={},
                         scoring={}, baseline=None, started="t", wall=0.0)
    return record, store.write(record, store.path_for(spec, run_id))


def test_records_are_written_whole_and_read_back(tmp_path):
    store = Store(tmp_path, "my suite")
    assert store.dir == tmp_path / "my-suite"
    record, path = _stored(store)
    assert path.name == "blip2-tiny__lora-r-8__seed0__0000000000000000.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()  # not mkstemp's 0600
    assert not [p for p in store.dir.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert read_record(path) == record and store.find(record.run_id) == record
    assert isinstance(store.records()[0], RunRecord) and store.find("ffff") is None
    assert store.log_path(_spec(), "abc").parent == store.dir / "logs"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("text", ["not json", "[]", '{"schema_version": "1"}', '{"schema_version": 99}',
                                  '{"schema_version": 2, "run_id": "x"}'])
def test_files_that_are_not_readable_records_are_ignored(tmp_path, text):
    store = Store(tmp_path, "s")
    record, _ = _stored(store)
    (store.dir / "junk__x__seed0__abcdef.json").write_text(text)
    assert read_record(store.dir / "junk__x__seed0__abcdef.json") is None
    assert store.records() == [record]


def test_find_record_by_id_prefix_or_path(tmp_path):
    store = Store(tmp_path, "s")
    a, path_a = _stored(store, seed=0, run_id="aaaa000000000000")
    _stored(store, seed=1, run_id="aaab000000000000")
    assert find_record("aaaa", tmp_path) == (a, path_a)
    assert find_record(str(path_a), tmp_path) == (a, path_a)
    with pytest.raises(UserError, match=r"'aaa' names 2 runs; give one of their ids: aaaa000000000000 \(s seed0\), "
                                        r"aaab000000000000 \(s seed1\)"):
        find_record("aaa", tmp_path)
    label = a.label  # as the leaderboard names the method: one run of it per seed here
    with pytest.raises(UserError, match=f"'{re.escape(label)}' names 2 runs"):
        find_record(label, tmp_path)
    (store.dir / path_a.name).unlink()
    assert find_record(label, tmp_path)[0].run_id == "aaab000000000000"  # one run left: the name finds it
    _stored(store, seed=0, run_id="aaaa000000000000")
    with pytest.raises(UserError, match="no run 'ffff'"):
        find_record("ffff", tmp_path)
    junk = store.dir / "junk.json"
    junk.write_text(json.dumps({"schema_version": 2}))
    with pytest.raises(UserError, match="is not a benchhub record"):
        find_record(str(junk), tmp_path)


def test_suite_stores(tmp_path):
    with pytest.raises(UserError, match="no results found"):
        suite_stores(tmp_path / "nothing")
    _stored(Store(tmp_path, "one"))
    _stored(Store(tmp_path, "two"))
    (tmp_path / "empty").mkdir()
    assert [s.dir.name for s in suite_stores(tmp_path)] == ["one", "two"]
    assert [s.dir.name for s in suite_stores(tmp_path, "two")] == ["two"]
    with pytest.raises(UserError, match="no results found for suite 'empty'"):
        suite_stores(tmp_path, "empty")


def test_a_record_json_cannot_hold_is_written_with_nulls_and_the_reasons(tmp_path):
    """Nothing is lost at write time: a NaN anywhere (here in the configuration, which make_record does not
    clean), a key or an object JSON cannot hold, a table that contains itself: each becomes null, `nonfinite`
    says where and what, and the record is written as strict JSON and reads back."""
    import dataclasses

    class Unprintable:
        def __str__(self):
            raise RuntimeError("no text")

    store = Store(tmp_path, "s")
    record, _ = _stored(store)
    loop = []
    loop.append(loop)
    method = {**record.config["method"], "options": {"r": 8, "scale": float("nan")}}
    odd = dataclasses.replace(record, config={**record.config, "method": method}, metrics={"m": float("inf")},
                              checks={"object": Unprintable(), (1, 2): 0.5, "loop": loop, "fine": 1.0},
                              nonfinite={"train.final_loss": "nan"})
    with pytest.raises((ValueError, RecursionError)):
        odd.to_json()  # strict: what `show --json` prints stays strict
    path = store.write(odd, store.path_for(_spec(), record.run_id))

    def no_constants(name):
        raise AssertionError(f"{name} written")

    data = json.loads(path.read_text(), parse_constant=no_constants)
    assert data["config"]["method"]["options"] == {"r": 8, "scale": None} and data["metrics"] == {"m": None}
    assert data["checks"] == {"object": None, "(1, 2)": 0.5, "loop": [None], "fine": 1.0}
    assert data["nonfinite"] == {"train.final_loss": "nan", "config.method.options.scale": "nan", "metrics.m": "inf",
                                 "checks.object": "Unprintable object that cannot be written (RuntimeError)",
                                 "checks.loop": "contains itself"}
    back = read_record(path)
    assert back is not None and back.status is record.status and back.config["method"]["options"]["scale"] is None


def test_files_named_like_records_that_are_not_regular_files_are_skipped(tmp_path):
    store = Store(tmp_path, "s")
    record, _ = _stored(store)
    os.mkfifo(store.dir / "m__x__seed0__00000000000000aa.json")
    (store.dir / "m__x__seed0__00000000000000bb.json").mkdir()
    assert store.records() == [record] and store.unreadable() == [] and store.find("00000000000000aa") is None
    fifo = store.dir / "m__x__seed0__00000000000000aa.json"
    assert store.tidy() == ({}, []) and fifo.exists()
    assert load_record(fifo) == (None, f"unreadable: not a regular file: {fifo}")  # opened without blocking
