"""The run record: made from a run's result, written and read back, and when a stored one is reused."""
import dataclasses
import json

import pytest

import benchhub.budget
import benchhub.components
import benchhub.spec
from benchhub import identity, records
from benchhub.budget import Budget
from benchhub.records import SCHEMA_VERSION, RunRecord, Status, make_record, reuse_verdict
from benchhub.spec import ComponentSpec, RunSpec

SPEC = RunSpec(suite="s", method=ComponentSpec("lora", {"r": 8}), model=ComponentSpec("blip2:tiny"),
               dataset=ComponentSpec("shapes"), metrics=("coco-caption",),
               budget=Budget(effective_batch=8, micro_batch=4, max_steps=3, memory_limit_bytes=2**30), seed=1, lr=1e-3)
IDENTITY = {"benchhub": "0.1.0", "plugins": {"benchhub_plugins": {"package": "benchhub", "version": "0.1.0"}},
            "machine": {"cpu": "X", "cpu_capability": "AVX512"}, "checkpoint": {"key": "k", "sha256": "a" * 64},
            "code": {"benchhub.train": identity.file_hash(identity.module_file("benchhub.train"))}}
SCORING = {"primary": "CIDEr", "columns": ["CIDEr"], "higher_is_better": {"CIDEr": True}}


def _record(**result):
    return make_record(SPEC, "0123456789abcdef", {"status": "ok", **result}, environment={"device": "cpu"},
                       identity=IDENTITY, scoring=SCORING, baseline="zero-shot", started="2026-01-01T00:00:00+00:00",
                       wall=1.234, log="logs/x.log", weights=None)


def test_plugins_still_find_the_spec_types_in_records():
    assert records.Budget is benchhub.budget.Budget and records.parse_memory is benchhub.budget.parse_memory
    assert records.format_bytes is benchhub.budget.format_bytes
    assert records.ComponentSpec is benchhub.spec.ComponentSpec and records.RunSpec is benchhub.spec.RunSpec
    assert records.Splits is benchhub.components.Splits is benchhub.Splits


def test_make_record_fills_what_the_run_did_not_measure():
    r = _record(metrics={"CIDEr": 1.5}, memory={"kind": "cpu-rss", "peak_bytes": 2**20})
    assert r.status is Status.OK and r.status == "ok" and r.schema_version == SCHEMA_VERSION == 3
    assert r.config == SPEC.config() and r.spec == SPEC and r.seed == 1 and r.label == "lora(r=8)"
    assert r.batching == {"effective_batch": 8, "micro_batch": 4, "grad_accum_steps": 2}
    assert r.memory == {"kind": "cpu-rss", "peak_bytes": 2**20, "limit_bytes": 2**30}
    assert r.primary_score == 1.5 and r.scoring == SCORING and r.baseline == "zero-shot"
    assert r.identity == IDENTITY and r.wall_seconds == 1.23 and r.log == "logs/x.log" and r.weights is None
    assert r.error is None and r.train is None and r.skipped_metrics == {}


@pytest.mark.parametrize("peak,status", [(2**30, Status.OK), (2**30 + 1, Status.OVER_BUDGET)])
def test_a_finished_run_over_its_memory_limit_is_over_budget(peak, status):
    assert _record(memory={"kind": "cpu-rss", "peak_bytes": peak}).status is status


def test_a_result_without_status_is_a_failure():
    r = make_record(SPEC, "x", {"error": "boom"}, environment={}, identity=IDENTITY, scoring={}, baseline=None,
                    started="t", wall=0.0)
    assert r.status is Status.FAILED and r.error == "boom" and not r.status.done and not r.status.ranked


def test_record_round_trips_through_json():
    r = _record(metrics={"CIDEr": 1.5}, train={"seconds": 1.0, "steps": 3})
    data = json.loads(r.to_json())
    assert data["status"] == "ok" and data["schema_version"] == 3 and data["scoring"] == SCORING
    assert RunRecord.from_dict(data) == r
    with pytest.raises(ValueError):  # NaN is not JSON: never written
        dataclasses.replace(r, metrics={"CIDEr": float("nan")}).to_json()


def test_non_finite_values_are_stored_as_null_with_the_reason():
    r = _record(metrics={"CIDEr": float("nan"), "BLEU-4": 0.5}, train={"seconds": 1.0, "final_loss": float("inf")})
    data = json.loads(r.to_json())  # strict JSON: it parses with no NaN / Infinity extension
    assert data["metrics"] == {"CIDEr": None, "BLEU-4": 0.5} and data["train"]["final_loss"] is None
    assert data["nonfinite"] == {"metrics.CIDEr": "nan", "train.final_loss": "inf"}
    assert "NaN" not in r.to_json() and "Infinity" not in r.to_json()


@pytest.mark.parametrize("status,done,ranked", [("ok", True, True), ("over-budget", True, False),
                                                ("does-not-fit", True, False), ("failed", False, False)])
def test_statuses(status, done, ranked):
    s = Status(status)
    assert s == status and str(s) == status and f"{s}" == status and (s.done, s.ranked) == (done, ranked)


def test_reuse_only_finished_records_of_the_same_code():
    ok = _record()
    assert reuse_verdict(None, IDENTITY) == (False, "new")
    assert reuse_verdict(ok, IDENTITY)[0] is True
    assert reuse_verdict(ok, IDENTITY, force=True) == (False, "--force")
    failed = make_record(SPEC, "x", {"status": "failed"}, environment={}, identity=IDENTITY, scoring={},
                         baseline=None, started="t", wall=0.0)
    assert reuse_verdict(failed, IDENTITY) == (False, "the stored attempt failed")
    assert reuse_verdict(RunRecord.from_dict({**ok.to_dict(), "identity": None}), IDENTITY)[0] is False
    plugin = {**IDENTITY, "plugins": {"benchhub_plugins": {"package": "benchhub", "version": "0.2.0"}}}
    assert reuse_verdict(ok, plugin) == (False, "plugin benchhub_plugins 0.1.0 → 0.2.0")
    other_code = dataclasses.replace(ok, identity={**IDENTITY, "code": {"benchhub.train": "000000000000"}})
    assert reuse_verdict(other_code, IDENTITY) == (False, "code changed: benchhub.train")
    avx2 = {**IDENTITY, "machine": {"cpu": "X", "cpu_capability": "AVX2"}}
    assert reuse_verdict(ok, avx2) == (False, "machine: cpu capability AVX512 → AVX2")


def test_scores_of_other_splits():
    per = {"ids": ["a", "b"], "CIDEr": [1.0, 2.0]}
    sweep = _record(scores={"validation": {"metrics": {"CIDEr": 2.5}, "examples": 2}},
                    per_example={"validation": per}, role="sweep")
    assert sweep.split_score("validation") == 2.5 and sweep.split_score("eval") is None and not sweep.evaluated


def test_schema_2_records_upgrade_to_3_unchanged_otherwise():
    data = json.loads(_record(metrics={"CIDEr": 1.5}).to_json())
    for key in ("scores", "per_example", "selection", "randomness", "role", "reference"):
        data.pop(key)
    data["schema_version"] = 2
    upgraded = RunRecord.from_dict(data)
    assert upgraded.schema_version == 3 and upgraded.scores == {} and upgraded.selection is None
    assert upgraded.evaluated and upgraded.primary_score == 1.5


def test_the_record_says_what_the_seed_varies():
    said = records.randomness(SPEC, trains=True)
    assert said["seed"] == 1 and "training data order" in said["varies"]
    assert "the pre-trained checkpoint" in said["fixed"] and records.randomness(SPEC, trains=False)["varies"] == []
