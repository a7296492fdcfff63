"""Schema upgrades (asv style): every record an earlier benchhub wrote reads back, upgraded in sequence."""
import json
from pathlib import Path

import pytest

from benchhub import records
from benchhub.records import SCHEMA_VERSION, RunRecord, SchemaError, Status, reuse_verdict
from benchhub.report import render_leaderboard
from benchhub.store import Store, read_record

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "records"
SCHEMA_1 = sorted(GOLDEN.glob("*__*.json"))


def test_there_is_an_upgrade_for_every_older_schema():
    assert sorted(records.UPGRADES) == list(range(1, SCHEMA_VERSION))


@pytest.mark.parametrize("path", SCHEMA_1, ids=lambda p: p.stem)
def test_schema_1_records_read_back_upgraded(path):
    stored = json.loads(path.read_text())
    assert stored["schema_version"] == 1
    record = read_record(path)
    assert isinstance(record, RunRecord) and record.schema_version == SCHEMA_VERSION
    assert record.status is Status(stored["status"])
    assert record.run_id == stored["run_id"] and record.config == stored["config"]
    assert record.metrics == stored["metrics"]
    assert record.scoring == {"primary": stored["primary_metric"], "columns": stored["leaderboard_metrics"],
                              "higher_is_better": stored["metric_higher_is_better"]}
    assert record.baseline == "zero-shot"  # what schema 1's leaderboards said of every suite
    assert record.identity is None  # unknown: never reused blindly
    for key in ("train", "eval", "memory", "compute", "parameters", "batching", "environment", "log"):
        assert getattr(record, key) == stored.get(key), key


def test_upgrade_1_to_2_moves_the_scoring_and_keeps_everything_else():
    stored = json.loads(SCHEMA_1[0].read_text())
    upgraded = records.upgrade_1_to_2(stored)
    assert upgraded["schema_version"] == 2
    assert not {"primary_metric", "leaderboard_metrics", "metric_higher_is_better"} & set(upgraded)
    assert {k: v for k, v in upgraded.items() if k not in ("scoring", "baseline", "identity", "schema_version")} \
        == {k: v for k, v in stored.items() if k not in ("primary_metric", "leaderboard_metrics",
                                                         "metric_higher_is_better", "schema_version")}
    assert stored["schema_version"] == 1  # the input is not modified


def test_a_current_record_round_trips_through_json():
    record = read_record(SCHEMA_1[0])
    again = RunRecord.from_dict(json.loads(record.to_json()))
    assert again == record


def test_schema_1_records_are_never_reused_and_say_why():
    record = read_record(next(p for p in SCHEMA_1 if "zero-shot" in p.name))
    assert record.status is Status.OK
    reuse, why = reuse_verdict(record, {"benchhub": "0.1.0", "source": "x", "plugins": {}})
    assert not reuse and "recorded before benchhub kept the code" in why


def test_newer_and_foreign_files_are_refused(tmp_path):
    stored = json.loads(SCHEMA_1[0].read_text())
    with pytest.raises(SchemaError, match="newer benchhub"):
        records.upgrade({**stored, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(SchemaError, match="not a benchhub record"):
        records.upgrade({"hello": 1})
    with pytest.raises(SchemaError, match="unknown status"):
        records.upgrade({**stored, "status": "great"})
    (tmp_path / "x.json").write_text("{")
    assert read_record(tmp_path / "x.json") is None


def test_leaderboard_of_upgraded_records_shows_what_schema_1_rendered():
    """The default suite's records and leaderboard as benchhub 0.1.0 (schema 1) wrote them: upgraded, the
    records render the same methods with the same scores, in the same order (the layout has changed since:
    intervals, ranks). With one seed and no per-example scores nothing can be tested: nothing is ranked."""
    root = GOLDEN.parent / "schema1"
    stored = [json.loads(p.read_text()) for p in sorted((root / "default").glob("*__*.json"))]
    assert len(stored) == 9 and all(r["schema_version"] == 1 for r in stored)
    from benchhub import plugins
    from benchhub.report import metric_describer

    text = render_leaderboard(Store(root, "default").records(), "default", metric_describer(plugins.registry()))
    old = (root / "default" / "leaderboard.md").read_text()

    def table(markdown, method_cell, cider_cell):
        main = markdown.split("Memory of one training step")[0]
        rows = [line.split("|") for line in main.splitlines() if line.startswith("| ") and "`" in line]
        return [(r[method_cell].strip(), r[cider_cell].strip().strip("*").split(" ")[0]) for r in rows
                if r[method_cell].strip().startswith("`")]

    assert table(text, 2, 3) == table(old, 1, 2)
    assert all(line.split("|")[1].strip() == "–" for line in text.splitlines()
               if line.startswith("| ") and line.split("|")[2].strip().startswith("`"))


def test_upgraded_records_must_fit_the_record_schema():
    """Upgrading is not trusting: a record of any schema is checked once upgraded (`record_schema`)."""
    stored = json.loads(SCHEMA_1[0].read_text())
    with pytest.raises(SchemaError, match=r"^batching.micro_batch is required$"):
        records.upgrade({**stored, "batching": {"effective_batch": 16, "grad_accum_steps": 1}})
    with pytest.raises(SchemaError, match=r"^config.budget.max_steps must be greater than or equal to 1, got -1$"):
        records.upgrade({**stored, "config": {**stored["config"], "budget": {**stored["config"]["budget"],
                                                                            "max_steps": -1}}})
    for version in (0, -1):
        with pytest.raises(SchemaError, match=f"schema_version must be 1 to {SCHEMA_VERSION}, got {version}"):
            records.upgrade({**stored, "schema_version": version})
