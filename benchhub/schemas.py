"""Declared schemas for what a person writes: a suite file's tables and the budget (from the file or the
command line). Every key has a type, a range and a finiteness rule here, in one place; a value that does
not fit is one line naming where it came from, the key and what is allowed (`UserError`, exit 2), found in
bounded time for any input before anything runs.

Records on disk have their own schema (`benchhub.record_schema`); the budget inside a record is checked
by the same `BudgetFields`.
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any, Callable, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError,
                      model_validator)

from benchhub.errors import UserError, unknown_name

LR_SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = {
    "fp32": "every weight and activation in fp32 (the CPU default)",
    "bf16-mixed": "weights in fp32, forward under bf16 autocast (the CUDA default where bf16 is native)",
    "frozen-bf16": "frozen weights held in bf16, trainable ones in fp32, forward under bf16 autocast (as PEFT users "
                   "load a base model)",
}
MAX_BATCH = 2**20  # examples per optimizer step; far above any real budget, and keeps every check bounded
MAX_STEPS = 10**9
MAX_SEED = 2**32 - 1  # what torch and Python's random accept everywhere
MAX_THREADS = 1024  # per process; the cores this machine has are checked where runs start (`executors`)
MAX_PROCESSES = 1024
MAX_JOBS = 1024
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _seed_range(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{seed} is out of range; seeds are integers from 0 to {MAX_SEED}")
    return seed


Seed = Annotated[int, AfterValidator(_seed_range)]


def _distinct_seeds(seeds: list[int]) -> list[int]:
    twice = repeated(seeds)
    if twice is not None:
        raise ValueError(f"seed {twice} is listed twice; each seed is one run")
    return seeds


Seeds = Annotated[list[Seed], Field(min_length=1), AfterValidator(_distinct_seeds)]  # suite files and --seeds

_STRICT = ConfigDict(extra="forbid", strict=True)


def divisors(n: int, limit: int = 12) -> list[int]:
    """The smallest `limit` divisors of n (n ≤ MAX_BATCH in practice; O(√n) whatever n is given)."""
    small, large, d = [], [], 1
    while d * d <= n and len(small) < limit:
        if n % d == 0:
            small.append(d)
            if d != n // d:
                large.append(n // d)
        d += 1
    return sorted(small + large)[:limit]


class BudgetFields(BaseModel):
    """The budget every run of a suite shares (`benchhub.budget.Budget` holds the checked values)."""

    model_config = _STRICT

    effective_batch: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 16
    micro_batch: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 16
    max_steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] | None = 200
    max_epochs: Annotated[float, Field(gt=0, le=10**6, allow_inf_nan=False)] | None = None
    memory_limit_bytes: Annotated[int, Field(ge=1)] | None = None
    lr_schedule: Literal[LR_SCHEDULES] = "cosine"  # type: ignore[valid-type]
    warmup_ratio: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.05
    max_grad_norm: Positive | None = 1.0
    weight_decay: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    max_seconds: Positive | None = None
    threads: Annotated[int, Field(ge=1, le=MAX_THREADS)] | None = None
    precision: Literal[tuple(PRECISIONS)] | None = None  # type: ignore[valid-type]
    processes: Annotated[int, Field(ge=1, le=MAX_PROCESSES)] = 1

    @model_validator(mode="after")
    def _fits(self):
        if self.max_steps is None and self.max_epochs is None:
            raise ValueError("the budget needs max_steps or max_epochs")
        if self.effective_batch % self.processes:
            raise ValueError(f"{self.processes} processes do not divide effective batch {self.effective_batch}; "
                             "each process takes an equal share")
        share = self.effective_batch // self.processes
        if share % self.micro_batch:
            of = f" of the {share} each of {self.processes} processes takes" if self.processes > 1 else ""
            shown = divisors(share, 13)
            more = ", …" if len(shown) > 12 else ""
            raise ValueError(f"micro-batch {self.micro_batch} does not divide effective batch "
                             f"{self.effective_batch}{of}; choose one of {', '.join(map(str, shown[:12]))}{more}")
        return self


def _distinct_sizes(sizes: list[int]) -> list[int]:
    twice = repeated(sizes)
    if twice is not None:
        raise ValueError(f"train size {twice} is listed twice; each size is one data budget")
    return sizes


class SuiteHead(BaseModel):
    """A suite file's [suite] table."""

    model_config = _STRICT

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=60)] | None = None  # a results folder's name
    description: str = ""
    methods: Annotated[list[str], Field(min_length=1)]
    models: Annotated[list[str], Field(min_length=1)]
    metrics: list[str] = []
    seeds: Seeds = [0]  # seeds = "auto" (adaptive, `benchhub.seeding`) is read before this schema (`suite.py`)
    min_seeds: Annotated[int, Field(ge=3, le=100)] | None = None
    max_seeds: Annotated[int, Field(ge=3, le=100)] | None = None
    sweep_seeds: Seeds | None = None
    sweep: Literal["halving", "full"] = "halving"  # how a learning-rate grid is swept (`benchhub.halving`)
    augment: list[str] = []  # augmentation policies, each method runs under each (`benchhub.augment`)
    train_sizes: Annotated[list[Annotated[int, Field(ge=1, le=10**7)]], AfterValidator(_distinct_sizes)] = []
    baseline: str | None = None
    reference: str | None = None
    jobs: Annotated[int, Field(ge=1, le=MAX_JOBS)] = 1



class Named(BaseModel):
    """[dataset] / [source]: a registered dataset's name; every other key is one of its options."""

    model_config = ConfigDict(extra="allow", strict=True)

    name: Annotated[str, Field(min_length=1)]


class SuiteFile(BaseModel):
    """A whole suite file. [methods.X] / [models.X] are option tables (checked against the plugin's own
    signature later); [budget] keys are `BudgetFields` with `memory_limit` written as people write sizes."""

    model_config = _STRICT

    suite: SuiteHead
    budget: dict[str, Any] = {}
    dataset: Named
    source: Named | None = None
    methods: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}


def repeated(values) -> Any:
    seen = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


# ---------------------------------------------------------------- one line per problem


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _allowed(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed where an unknown key `loc` was found."""
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    return list(model.model_fields)


WORDS = (("a valid dictionary", "a table"), ("a valid list", "a list"), ("a valid string", "a string"),
         ("a valid number", "a number"), ("a valid integer", "an integer"), ("a valid boolean", "true or false"))


def describe(exc: ValidationError, model: type[BaseModel], key_name: Callable[[tuple], str], top: str = "key") -> str:
    """The first problem of a failed validation as `<key> must <what is allowed>, got <value>` (`top`: what
    an unknown key at the top level is called)."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        section = key_name(loc[:-1]) if loc[:-1] else key_name(())
        what = f"{section} key" if section else top
        return str(unknown_name(what, str(loc[-1]), _allowed(model, loc)))
    where = key_name(loc) if loc else ""
    if kind == "missing":
        return f"{where} is required"
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        return f"{where}: {text}" if where and not where.startswith("each ") else text
    for prefix in ("Input should be ", "Input should have ", "String should ", "List should have "):
        if message.startswith(prefix):
            what = message[len(prefix):]
            verb = "must be " if prefix == "Input should be " else ("must " if prefix == "String should "
                                                                    else "must have ")
            message = verb + what
            break
    message = message.replace(" after validation", "").split(", not ")[0] if kind.startswith("too_") else message
    for pydantic_words, ours in WORDS:
        message = message.replace(pydantic_words, ours)
    message = re.sub(r" or instance of \w+", "", message)
    if kind == "finite_number":
        message = "must be a finite number"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        message = "must be an integer"
    if kind == "string_pattern_mismatch":
        message = "must be letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    return f"{where} {message}, got {_shown(error.get('input'))}".strip()


def check(model: type[BaseModel], data, key_name: Callable[[tuple], str], prefix: str = "", top: str = "key"):
    """`data` validated by `model`; else UserError with the first problem in one line after `prefix`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(prefix + describe(exc, model, key_name, top)) from None


def toml_key(loc: tuple) -> str:
    """A location in a TOML file as people write it: ('suite', 'seeds', 0) -> '[suite] seeds[0]',
    ('methods', 'lora', 'r') -> '[methods.lora] r'."""
    if not loc:
        return ""
    table, *rest = loc
    head = f"[{table}]"
    if table in ("methods", "models") and rest:
        head, rest = f"[{table}.{rest[0]}]", rest[1:]
    path = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(rest))
    return f"{head} {path}".strip()


SeedList = TypeAdapter(Seeds)


def check_seeds(seeds, what: str) -> list[int]:
    """Seeds torch and Python's random accept everywhere: distinct integers in [0, MAX_SEED] (`Seeds`)."""
    try:
        SeedList.validate_python(list(seeds), strict=True)
    except ValidationError as exc:
        raise UserError(f"{what}: " + describe(exc, BaseModel, lambda loc: "each seed" if loc else "")) from None
    return list(seeds)


def check_budget(values: dict, key_name: Callable[[tuple], str] | None = None) -> BudgetFields:
    """A budget's values (Budget's fields) checked; keys named as `key_name` says (default: `budget.<key>`)."""
    return check(BudgetFields, values, key_name or (lambda loc: "budget " + ".".join(map(str, loc))
                                                    if loc else "budget"))
