"""The schema of a run record on disk: every field a reader of records relies on (the leaderboards, `show`,
`compare`, the learning-rate sweep, paired statistics, `predict`), with its type, its range and its
finiteness rule, in one place (pydantic v2).

`check(data)` returns None for a record that fits, else one line naming the first field that does not and
what is allowed (`train.seconds must be a number, got 'fast'`). `records.upgrade` calls it after the
schema upgrades; a file that does not fit is not understood (`store.load_record`), and `benchhub run` sets
it aside as `*.invalid` with that line.

Tables keep keys no reader depends on (records evolve: a newer benchhub may add some), but no value
anywhere in a record may be NaN or infinite (records are strict JSON), and text must be valid Unicode.
Only benchhub's own process imports this module (through `records`), never a run's child process.
"""
from __future__ import annotations

import math
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model,
                      model_validator)

from benchhub.schemas import MAX_SEED, BudgetFields, describe
from benchhub.status import Status

Text = str
Name = Annotated[str, Field(min_length=1)]
# Bounds a reader can compute and plot with: counts exact in a float, numbers far from float overflow
LARGEST = 1e15
Count = Annotated[int, Field(ge=0, le=2**53)]  # bytes, examples, steps, parameters
PositiveInt = Annotated[int, Field(ge=1, le=2**53)]
Number = Annotated[float, Field(ge=-LARGEST, le=LARGEST, allow_inf_nan=False)]  # an int is a number too
NonNegative = Annotated[float, Field(ge=0, le=LARGEST, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Scores = dict[str, Number | None]  # a metric's value; null where it was not finite when measured
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Table(BaseModel):
    """A table of a record: its known keys strictly typed, unknown keys kept (no reader uses them)."""

    model_config = ConfigDict(extra="allow", strict=True)


def table(name: str, doc: str = "", required: dict | None = None, not_null: dict | None = None,
          **optional) -> type[Table]:
    """A Table whose `required` keys must be there, `not_null` ones may be absent but never null (a reader's
    `.get(key, default)` would get None), and `optional` ones may be absent or null."""
    fields = {**{k: (t, ...) for k, t in (required or {}).items()},
              **{k: (t, None) for k, t in (not_null or {}).items()},  # the default is never read
              **{k: (t | None, None) for k, t in optional.items()}}
    return create_model(name, __base__=Table, __doc__=doc, **fields)


def _empty_is_none(value):
    """An empty table where a table is optional reads as absent (readers test `if record.train`)."""
    return None if isinstance(value, dict) and not value else value


def Maybe(kind):  # noqa: N802 - a type
    """An optional table, `{}` counting as absent."""
    return Annotated[kind | None, BeforeValidator(_empty_is_none)]


def _inside(value: str) -> str:
    """A path relative to the record's results directory that stays inside it."""
    if not value or "\x00" in value:
        raise ValueError(f"must be a path inside the results directory, got {value!r}")
    if ".." in PurePosixPath(value).parts or ".." in PureWindowsPath(value).parts:
        raise ValueError(f"must stay inside the results directory (no '..'), got {value!r}")
    return value


def _absolute(value: str) -> bool:
    return PurePosixPath(value).is_absolute() or bool(PureWindowsPath(value).drive) or value.startswith("\\")


def _module_names(code: dict) -> dict:
    bad = next((name for name in code if not all(part.isidentifier() for part in name.split("."))), None)
    if bad is not None:
        raise ValueError(f"keys must be Python module names, got {bad!r}")
    return code


def _same_length(split: dict) -> dict:
    """A split's per-example scores: `ids` (text or integers) and, per score, one number (or null) per id."""
    ids = split.get("ids")
    bad = next((i for i in ids or [] if not isinstance(i, (str, int)) or isinstance(i, bool)), None)
    if bad is not None:
        raise ValueError(f"ids must be text or integers, got {bad!r}")
    for name, values in split.items():
        if name == "ids":
            continue
        bad = next((v for v in values if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                                           or not math.isfinite(v) or abs(v) > LARGEST)), False)
        if bad is not False:
            raise ValueError(f"{name} must be a list of finite numbers within ±{LARGEST:g} (or null), got {bad!r} "
                             "in it")
        if ids is not None and len(values) != len(ids):
            raise ValueError(f"{name} has {len(values)} scores for {len(ids)} ids; each example needs one")
    return split


Path_ = Annotated[str, AfterValidator(_inside)]
PerExampleSplit = Annotated[dict[str, list[Any]], AfterValidator(_same_length)]

# ---------------------------------------------------------------- where and how a run ran

Machine = table("Machine", "The machine's CPU (`cpu_isa`: space-separated flags) and GPU.", cpu=Text,
                cpu_capability=Text, cpu_isa=Text, gpu=Text, driver=Text, cuda=Text)
Environment = table("Environment", device=Text, device_type=Text, versions=dict[str, Text | None], machine=Machine,
                    platform=Text, git_sha=Text)
Identity = table("Identity", "What a run's numbers depend on beyond its configuration (`identity`, `reuse`).",
                 not_null={"code": Annotated[dict[str, Text | None], AfterValidator(_module_names)]},  # module: hash
                 benchhub=Text, machine=Machine, checkpoint=table("Checkpoint", key=Text, sha256=Text),
                 plugins=dict[str, table("PluginPackage", package=Text, version=Text)])
Executor = table("Executor", required={"name": Name}, node=Text)
Load = table("Load", busy=bool, why=Text)

# ---------------------------------------------------------------- the configuration


class Component(BaseModel):
    """`ComponentSpec(**table)`: its name and options, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Name
    options: dict[str, Any] = {}


Method = table("Method", required={"name": Name, "options": dict[str, Any], "lr": NonNegative})


class Config(Table):
    """What `RunSpec.from_config` reads; the budget is checked by a suite's own `schemas.BudgetFields`."""

    suite: Text
    method: Method
    method_label: Text
    model: Component
    dataset: Component
    metrics: list[Text]
    budget: BudgetFields
    seed: Seed
    source: Component | None = None
    validation_fraction: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0
    rung: Annotated[int, Field(ge=0, le=10**6)] = 0


Scoring = table("Scoring", not_null={"higher_is_better": dict[str, bool]}, primary=Text, columns=list[Text])

# ---------------------------------------------------------------- what the run measured

Train = table("Train", required={"seconds": NonNegative}, steps=Count, planned_steps=Count, samples=Count,
              samples_per_second=NonNegative, target_tokens=Count, tokens_per_second=NonNegative, final_loss=Number,
              loss_curve=list[Number | None], stopped_by=Literal["steps", "time", "rung"],
              per_rank_seconds=list[NonNegative | None])
Sample = table("Sample", required={"prediction": Text, "references": Annotated[list[Text], Field(min_length=1)]})
Scored = table("Scored", "One held-out split's scores: `eval` (its metrics are the record's `metrics`) or a "
                         "`scores` split.", not_null={"metrics": Scores, "samples": list[Sample]}, examples=Count,
               seconds=NonNegative, generation_seconds=NonNegative, batch_size=PositiveInt)
Batching = table("Batching", required={"effective_batch": PositiveInt, "micro_batch": PositiveInt,
                                       "grad_accum_steps": PositiveInt}, processes=PositiveInt)
Parameters = table("Parameters", required={"trainable": Count, "total": Count},
                   not_null={"manifest": dict[str, table("Manifest", required={"trainable": Count, "total": Count})]})
MemorySplit = table("MemorySplit", "One probe step's tensor bytes (every key `show` prints).",
                    required={f"{k}_bytes": Count for k in ("weights", "gradients", "optimizer", "activations_other",
                                                             "peak_allocated")})
Trial = table("Trial", required={"micro_batch": PositiveInt, "fits": bool}, peak_bytes=Count,
              peak_allocated_bytes=Count, seconds=NonNegative)
Search = table("Search", required={"trials": list[Trial], "seconds": NonNegative})
Compute = table("Compute", flops_per_step=NonNegative, flops_count_seconds=NonNegative, mfu=NonNegative,
                achieved_flops_per_second=NonNegative, peak_flops_per_second=NonNegative, peak_source=Text)


class Memory(Table):
    kind: Text | None = None  # what the peak measures: cuda, cpu-rss
    peak_bytes: Count | None = None
    limit_bytes: PositiveInt | None = None
    needed_bytes: Count | None = None
    needed_is_lower_bound: bool | None = None
    baseline_rss_bytes: Count | None = None
    split: Maybe(MemorySplit) = None
    search: Maybe(Search) = None
    per_rank_peak_bytes: list[Count | None] | None = None

    @model_validator(mode="after")
    def _kind(self):
        if self.peak_bytes and self.kind is None:
            raise ValueError("kind is required with peak_bytes (what the peak measures: cuda, cpu-rss)")
        return self


RunnerUp = table("RunnerUp", required={"lr": NonNegative, "difference": Number, "low": Number, "high": Number,
                                       "within_noise": bool})
Rung = table("Rung", required={"rung": Count, "validation": dict[str, Number | None], "kept": list[NonNegative]},
             steps=Count, first_out=RunnerUp)
Halving = table("Halving", "Successive halving's rungs before the full-length sweep runs (`benchhub.halving`).",
                required={"eta": Count, "rungs": list[Rung]}, planned_steps=Count)
Selection = table("Selection", "The learning-rate sweep a final run's rate was chosen by (`sweep.choose_lr`).",
                  required={"grid": Annotated[list[NonNegative], Field(min_length=1)], "chosen": NonNegative,
                            "metric": Text | None, "summary": Text, "validation": dict[str, Number | None]},
                  seeds=list[Seed], split=Text, examples=Count, noise=Text, runner_up=RunnerUp, halving=Halving,
                  intervals=dict[str, Annotated[list[Number], Field(min_length=2, max_length=2)] | None])
Seeding = table("Seeding", "Adaptive seeds (`benchhub.seeding`): the row's final seeds were added while its rank "
                           "was ambiguous.", required={"mode": Literal["auto"], "min": Count, "max": Count,
                                                      "looks": list[Count], "alpha": Annotated[float, Field(gt=0, lt=1)]})
Randomness = table("Randomness", seed=Seed, varies=list[Text], fixed=list[Text])
Data = table("Data", not_null={"notes": list[Text]})
Preparation = table("Preparation", key=Text, sha256=Text, final_loss=Number, seconds=NonNegative, cached=bool)

# ---------------------------------------------------------------- the record


def _run_id(value: str) -> str:
    if not RUN_ID.fullmatch(value):
        raise ValueError(f"must be 1 to 64 letters, digits, '_' or '-', got {value!r}")
    return value


class Record(Table):
    """A run record as `records.RunRecord` holds it, after the schema upgrades."""

    schema_version: int
    run_id: Annotated[str, AfterValidator(_run_id)]
    config: Config
    status: Annotated[Status, Field(strict=False)]
    environment: Environment
    identity: Identity | None = None
    error: Text | None = None
    metrics: Scores = {}
    skipped_metrics: dict[str, Any] = {}
    scoring: Scoring = Scoring()
    baseline: Text | None = None
    reference: Text | None = None
    checks: dict[str, Any] = {}
    train: Maybe(Train) = None
    eval: Scored | None = None
    scores: dict[str, Scored] = {}
    per_example: dict[str, PerExampleSplit] = {}
    role: Literal["rung", "sweep", "final"] | None = None
    selection: Maybe(Selection) = None
    seeding: Maybe(Seeding) = None
    randomness: Randomness | None = None
    memory: Memory = Memory()
    compute: Compute | None = None
    parameters: Maybe(Parameters) = None
    batching: Batching
    data: Data | None = None
    weights: Path_ | None = None
    weights_error: Text | None = None
    log: Path_ | None = None
    model_preparation: Preparation | None = None
    precision: dict[str, Any] | None = None
    executor: Executor | None = None
    load: Load | None = None
    nonfinite: dict[str, Text] = {}
    started_at: Text | None = None
    wall_seconds: NonNegative | None = None

    @model_validator(mode="after")
    def _paths_inside(self):
        """The log is always in the results directory; the weights are too, except those a remote executor
        (`--executor ray`) left on its workers or its `--artifacts` storage: `predict` never loads those."""
        if self.log is not None and _absolute(self.log):
            raise ValueError(f"log must be a path inside the results directory, not an absolute one, got {self.log!r}")
        remote = self.executor is not None and self.executor.name != "local"
        if self.weights is not None and _absolute(self.weights) and not remote:
            raise ValueError(f"weights must be a path inside the results directory, not an absolute one, got "
                             f"{self.weights!r}")
        return self


# ---------------------------------------------------------------- one line per problem


def key_name(loc: tuple) -> str:
    """('train', 'loss_curve', 3) -> 'train.loss_curve[3]'."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))


def _strange(data) -> str | None:
    """The first value that no record can hold, wherever it is (known key or not): NaN or an infinity, or
    text that is not valid Unicode. Iterative: any depth the JSON parser accepted."""
    stack = [((), data)]
    while stack:
        loc, value = stack.pop()
        where = key_name(loc) or "record"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where} must be a finite number, got {value}"
        if isinstance(value, str) and not _unicode(value):
            return f"{where} is not valid Unicode text"
        if isinstance(value, dict):
            if not all(_unicode(k) for k in value if isinstance(k, str)):
                return f"{where} has a key that is not valid Unicode text"
            stack.extend(((*loc, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, (list, tuple)):
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(value))))
    return None


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, as JSON's "\ud800" reads
        return False
    return True


def check(data: dict) -> str | None:
    """None when `data` (a record upgraded to the current schema) fits; else the first problem, one line."""
    strange = _strange(data)
    if strange is not None:
        return strange
    try:
        Record.model_validate(data)
    except ValidationError as exc:
        return describe(exc, Record, key_name, top="record key").replace(": must ", " must ", 1)
    return None


__all__ = ["Record", "check", "key_name"]
