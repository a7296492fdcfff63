"""The run record: one typed, schema-versioned result per run; made, read, upgraded and compared here.

Upgrades follow asv: a record of schema N is passed through `upgrade_N_to_N+1` functions in
sequence until it is current, so every record a past benchhub wrote reads back.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass, field

from benchhub.budget import Budget, batching, format_bytes, parse_memory  # noqa: F401 - re-exported for plugins
from benchhub.status import Status  # noqa: F401 - re-exported
from benchhub.components import Splits  # noqa: F401 - re-exported for plugins
from benchhub.spec import ComponentSpec, RunSpec  # noqa: F401 - re-exported for plugins

SCHEMA_VERSION = 3

# What a run's seed changes, and what it never does (every record says so).
SEED_VARIES = ("initialisation of new parameters (adapters, heads)", "training data order", "dropout",
               "per-seed draws of the dataset (e.g. which caption of an image trains)")
SEED_FIXED = ("train / validation / evaluation / source splits", "the pre-trained checkpoint")


@dataclass(frozen=True)
class RunRecord:
    """Everything one run measured, and what it depended on."""

    run_id: str
    config: dict
    status: Status
    environment: dict
    identity: dict | None = None  # code executed, checkpoint, machine, package versions (`identity`; None: unknown)
    error: str | None = None
    metrics: dict = field(default_factory=dict)
    skipped_metrics: dict = field(default_factory=dict)
    scoring: dict = field(default_factory=dict)  # primary, columns, higher_is_better
    baseline: str | None = None  # the suite's baseline method
    reference: str | None = None  # the suite's reference method (differences are to it)
    checks: dict = field(default_factory=dict)
    train: dict | None = None
    eval: dict | None = None
    scores: dict = field(default_factory=dict)  # other held-out splits: {"validation"|"source": {"metrics": ...}}
    per_example: dict = field(default_factory=dict)  # split -> {"ids": [...], score name: [one per example]}
    role: str | None = None  # "rung"/"sweep" (a grid point, scored on validation only) or "final"
    selection: dict | None = None  # the learning-rate sweep this run's rate was chosen by
    seeding: dict | None = None  # adaptive seeds (`seeding.Auto.record`): the row's seeds were chosen by its ranks
    randomness: dict | None = None  # what the seed varied and what it kept fixed
    memory: dict = field(default_factory=dict)
    compute: dict | None = None
    parameters: dict | None = None
    batching: dict = field(default_factory=dict)
    data: dict | None = None
    weights: str | None = None
    weights_error: str | None = None
    log: str | None = None
    model_preparation: dict | None = None
    precision: dict | None = None  # the precision policy it ran under and its parameters' bytes per dtype
    executor: dict | None = None  # where it ran: {"name": "local"} or {"name": "ray", "node": ip}
    load: dict | None = None  # the host's load over the run (load average, benchhub runs active), busy or not
    nonfinite: dict = field(default_factory=dict)  # "train.final_loss" -> "nan": values stored as null, and why
    started_at: str | None = None
    wall_seconds: float | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def spec(self) -> RunSpec:
        return RunSpec.from_config(self.config)

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def label(self) -> str:
        return self.config.get("method_label") or self.config["method"]["name"]

    @property
    def primary_score(self) -> float | None:
        primary = self.scoring.get("primary")
        return self.metrics.get(primary) if primary else None

    def split_score(self, split: str, name: str | None = None) -> float | None:
        """A score on a held-out split ("eval", "validation", "source"); default: the primary one."""
        name = name or self.scoring.get("primary")
        metrics = self.metrics if split == "eval" else (self.scores.get(split) or {}).get("metrics", {})
        return metrics.get(name) if name else None

    @property
    def evaluated(self) -> bool:
        """Scored on the evaluation split (a sweep run whose rate was not chosen never is)."""
        return bool(self.metrics)

    @property
    def grid_point(self) -> bool:
        """A learning-rate sweep run or halving rung not scored on evaluation: in the sweep table, never ranked."""
        return self.role in ("rung", "sweep") and not self.evaluated

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["status"] = self.status.value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        """A record of any schema this benchhub knows, upgraded to the current one."""
        data = upgrade(data)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------- schema upgrades


class SchemaError(ValueError):
    """A file that is not a record this benchhub can read."""


def upgrade_1_to_2(record: dict) -> dict:
    """Schema 2: the metric's scoring in one place, the suite's baseline, and the run's identity.

    Schema 1 had no identity (so such a record is never reused blindly), kept the scoring in three
    top-level keys, and its leaderboards called `zero-shot` the baseline of every suite.
    """
    record = dict(record)
    record["scoring"] = {"primary": record.pop("primary_metric", None),
                         "columns": record.pop("leaderboard_metrics", None) or [],
                         "higher_is_better": record.pop("metric_higher_is_better", None) or {}}
    record.setdefault("baseline", "zero-shot")
    record.setdefault("identity", None)
    record["schema_version"] = 2
    return record


def upgrade_2_to_3(record: dict) -> dict:
    """Schema 3 adds validation/source scores, per-example scores, the lr selection and the seed's role;
    a schema-2 record has none of them (and was always scored on the evaluation split)."""
    return {**record, "schema_version": 3}


UPGRADES = {1: upgrade_1_to_2, 2: upgrade_2_to_3}
REQUIRED = ("run_id", "config", "status", "environment")


def upgrade(data: dict) -> dict:
    """Run the upgrades from the record's schema to the current one; SchemaError for non-records."""
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int) \
            or isinstance(data["schema_version"], bool):
        raise SchemaError("not a benchhub record (no integer schema_version)")
    version = data["schema_version"]
    if version > SCHEMA_VERSION:
        raise SchemaError(f"written by a newer benchhub (schema {version}; this one reads up to {SCHEMA_VERSION})")
    if version < min(UPGRADES):
        raise SchemaError(f"schema_version must be 1 to {SCHEMA_VERSION}, got {version}")
    while version < SCHEMA_VERSION:
        data = UPGRADES[version](data)
        version = data["schema_version"]
    missing = [k for k in REQUIRED if k not in data]
    if missing or not isinstance(data["config"], dict):
        raise SchemaError(f"record lacks {missing[0] if missing else 'a config table'}")
    try:
        data["status"] = Status(data["status"])
    except (ValueError, TypeError):
        raise SchemaError(f"unknown status {data['status']!r}; a record's status is one of "
                          f"{', '.join(s.value for s in Status)}") from None
    _check_content(data)
    return data


def _check_content(data: dict) -> None:
    """Every field a reader of records relies on fits the record schema (`record_schema`: types, ranges,
    finiteness, per-example lists as long as their ids, paths inside the results directory), and the
    configuration is one `RunSpec` reads (the budget within the suite's ranges). SchemaError: one line naming
    the first field that does not fit and what is allowed."""
    from benchhub.errors import UserError, first_line
    from benchhub.record_schema import check

    problem = check(data)
    if problem is not None:
        raise SchemaError(problem)
    try:
        RunSpec.from_config(data["config"])
    except (UserError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SchemaError(f"config not understood ({first_line(exc)})") from None


# ---------------------------------------------------------------- making a record


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def randomness(spec: RunSpec, trains: bool) -> dict:
    return {"seed": spec.seed, "varies": list(SEED_VARIES) if trains else [], "fixed": list(SEED_FIXED)}


def make_record(spec: RunSpec, run_id: str, result: dict, *, environment: dict, identity: dict,
                scoring: dict, baseline: str | None, started: str, wall: float, reference: str | None = None,
                **paths) -> RunRecord:
    """The one place a record is assembled from what the run's child process measured.

    `paths`: log, weights (relative to the suite's results directory), model_preparation, selection,
    randomness.
    """
    status = Status(result.get("status", "failed"))
    memory = dict(result.get("memory") or {})
    limit = spec.budget.memory_limit_bytes
    if limit is not None:
        memory["limit_bytes"] = limit
        if status is Status.OK and memory.get("peak_bytes", 0) > limit:
            status = Status.OVER_BUDGET
    nonfinite: dict = {}
    measured = {k: finite(result[k], k, nonfinite) for k in (
        "error", "metrics", "skipped_metrics", "checks", "train", "eval", "scores", "per_example", "compute",
        "parameters", "weights_error", "data", "precision") if result.get(k)}
    return RunRecord(run_id=run_id, config=spec.config(), status=status, environment=environment,
                     identity=identity, scoring=scoring, baseline=baseline, reference=reference,
                     memory=finite(memory, "memory", nonfinite), nonfinite=nonfinite,
                     batching=result.get("batching") or batching(spec.budget), started_at=started,
                     wall_seconds=round(wall, 2), **measured, **{k: v for k, v in paths.items() if v})


def finite(value, where: str, found: dict):
    """`value` with every NaN / infinity replaced by None (records are strict JSON); `found` gets
    where each was and what it was ("nan", "inf", "-inf"), per-example lists summarised by a count."""
    if isinstance(value, float) and not math.isfinite(value):
        found[where] = str(value)
        return None
    if isinstance(value, dict):
        return {k: finite(v, f"{where}.{k}", found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        inner: dict = {}
        out = [finite(v, where, inner) for v in value]
        if inner:
            found[where] = f"{sum(isinstance(v, float) and not math.isfinite(v) for v in value)} of {len(value)} " \
                           f"values not finite" if len(value) > 1 else next(iter(inner.values()))
        return out
    return value


def record_json(record: RunRecord) -> str:
    """The record as strict JSON, whatever it holds: nothing a run measured is lost at write time. When
    `to_json` fails (a NaN or an infinity anywhere, e.g. in the configuration; a key or an object JSON cannot
    hold; a table that contains itself), each offending value is written as null and `nonfinite` says where
    and what it was."""
    try:
        return record.to_json()
    except Exception:  # noqa: BLE001 - NaN, a key JSON cannot hold, a cycle, an object that cannot be copied
        pass
    found: dict = {}
    data = {f.name: _jsonable(getattr(record, f.name), f.name, found) for f in dataclasses.fields(record)
            if f.name != "nonfinite"}
    status = record.status
    data["status"] = status.value if isinstance(status, Status) else data["status"]
    earlier = _jsonable(record.nonfinite, "nonfinite", found)
    data["nonfinite"] = {**(earlier if isinstance(earlier, dict) else {}), **found}
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False)


def _jsonable(value, where: str, found: dict, within: frozenset = frozenset()):
    """`value` as JSON can hold it (`finite`, and: keys as text, other objects as their text as `to_json`
    writes them, null for what cannot be written); `found` gets where each null came from and why."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return finite(value, where, found)
    if isinstance(value, (dict, list, tuple)):
        if id(value) in within:
            found[where] = "contains itself"
            return None
        within = within | {id(value)}
        if isinstance(value, dict):
            return {_key(k): _jsonable(v, f"{where}.{_key(k)}", found, within) for k, v in value.items()}
        inner: dict = {}
        out = [_jsonable(v, where, inner, within) for v in value]
        if inner:
            bad = sum(v is None for v in out) - sum(v is None for v in value)
            found[where] = f"{bad} of {len(value)} values not finite or not JSON" if len(value) > 1 \
                else next(iter(inner.values()))
        return out
    try:
        return str(value)  # as to_json's default=str writes it
    except Exception as exc:  # noqa: BLE001 - an object whose text cannot be made: null, and why
        found[where] = f"{type(value).__name__} object that cannot be written ({type(exc).__name__})"
        return None


def _key(key) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    try:
        return str(key)
    except Exception:  # noqa: BLE001
        return f"<{type(key).__name__}>"


# ---------------------------------------------------------------- reuse


def reuse_verdict(stored: RunRecord | None, now: dict, force: bool = False) -> tuple[bool, str]:
    """(reuse the stored record?, why): reused only when finished and its identity is today's (`identity`)."""
    from benchhub.reuse import changes

    if stored is None:
        return False, "new"
    if force:
        return False, "--force"
    if not stored.status.done:
        return False, "the stored attempt failed"
    differences = changes(stored.identity, now)
    if differences:
        return False, "; ".join(differences)
    return True, "same configuration, libraries, machine, checkpoint and executed code"


__all__ = ["SCHEMA_VERSION", "Status", "RunRecord", "SchemaError", "upgrade", "make_record", "record_json",
           "reuse_verdict", "randomness",
           "Budget", "ComponentSpec", "RunSpec", "Splits", "format_bytes", "parse_memory"]
