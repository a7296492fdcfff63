"""Suites: TOML files and command-line selections -> the validated matrix of RunSpecs, before anything runs."""
from __future__ import annotations

import math

import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from benchhub.budget import NO_LIMIT, Budget, parse_memory
from benchhub.errors import UserError, unknown_name
from benchhub.halving import ETA, count, planned
from benchhub.seeding import Auto, DEFAULT_MAX, DEFAULT_MIN, check as check_auto
from benchhub import schemas, validation
from benchhub.spec import (SWEEP_SEEDS, Cell, ComponentSpec, RunSpec, check_options, parse_component,
                           parse_component_list, split_name)

BUILTIN_SUITES = Path(__file__).resolve().parent.parent / "benchmarks"
VALIDATION_FRACTION = 0.1  # of the training examples, when an lr grid needs a validation split the dataset lacks
SUITE_KEYS = tuple(schemas.SuiteHead.model_fields)


@dataclass(frozen=True)
class Suite:
    name: str
    methods: tuple[ComponentSpec, ...]
    models: tuple[ComponentSpec, ...]
    dataset: ComponentSpec
    metrics: tuple[str, ...]
    budget: Budget
    seeds: tuple[int, ...] = (0,)
    sweep_seeds: tuple[int, ...] = SWEEP_SEEDS
    description: str = ""
    source: str = ""
    method_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    baseline: str | None = None  # the method every other is read against (default: the first that does not train)
    reference: str | None = None  # differences and their intervals are to this method (default: full)
    source_set: ComponentSpec | None = None  # [source]: a dataset whose eval split is the source set (forgetting)
    jobs: int = 1  # runs side by side (each in its own process)
    checkpoint_every: int | None = None  # [budget] checkpoint_every: a run's training state every N steps (resume)
    sweep: str = "halving"  # how a learning-rate grid is swept: "halving" (successive halving) or "full"
    auto_seeds: Auto | None = None  # seeds = "auto": final seeds added while a method's rank is ambiguous
    augments: tuple = (ComponentSpec("none"),)  # augmentation policies: each training method under each
    train_sizes: tuple = ()  # data budgets (`benchhub.subsets`): each method at each size; (): the whole split


def suite_dirs() -> list[Path]:
    """Where `--suite NAME` looks, in order: ./benchmarks, then benchhub's own."""
    return [Path.cwd() / "benchmarks", BUILTIN_SUITES]


def find_suite(name_or_path: str) -> Path:
    """A path to a TOML file, or the name of a suite in ./benchmarks or benchhub's benchmarks/."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise UserError(f"suite file '{name_or_path}' does not exist")
        return path
    dirs = suite_dirs()
    for d in dirs:
        candidate = d / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    available = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise unknown_name("suite", name_or_path, available)


def load_suite(name_or_path: str) -> Suite:
    path = find_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"malformed suite file {path}: {exc}") from None
    except RecursionError:
        raise UserError(f"malformed suite file {path}: nested too deeply") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read suite file {path}: {exc}") from None
    return suite_from_dict(data, default_name=path.stem, source=str(path))


def _expect(cond: bool, source: str, message: str) -> None:
    if not cond:
        raise UserError(f"suite {source}: {message}")


MAX_CHECKPOINT_EVERY = 10**9


def checkpoint_every(table: dict, source: str) -> int | None:
    """[budget] checkpoint_every: how often a run saves its training state. Not part of the budget (a resumed run
    computes what an uninterrupted one does), so it changes no run id."""
    value = table.get("checkpoint_every")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHECKPOINT_EVERY:
        raise UserError(f"suite {source}: [budget] checkpoint_every must be an integer from 1 to "
                        f"{MAX_CHECKPOINT_EVERY} (optimizer steps), got {value!r}")
    return value


def _budget(table: dict, source: str) -> Budget:
    """[budget] as written (`memory_limit` in units people write) -> the checked Budget."""
    table = {k: v for k, v in table.items() if k != "checkpoint_every"}
    written = set(schemas.BudgetFields.model_fields) - {"memory_limit_bytes"} | {"memory_limit"}
    for key in sorted(set(table) - written - {"memory_limit_bytes"}):
        raise UserError(f"suite {source}: {unknown_name('[budget] key', key, written)}")
    if "memory_limit" in table:
        try:
            table["memory_limit_bytes"] = parse_memory(table.pop("memory_limit"))
        except UserError as exc:
            raise UserError(f"suite {source}: [budget] memory_limit: {exc}") from None
    checked = schemas.check(schemas.BudgetFields, table, lambda loc: schemas.toml_key(("budget", *loc)),
                            prefix=f"suite {source}: ")
    return Budget(**checked.model_dump())


def suite_from_dict(data: dict, default_name: str = "suite", source: str = "<dict>") -> Suite:
    """A suite file's tables checked against `schemas.SuiteFile` (every key typed, ranged, finite), then the
    checks across keys (baseline and reference are among the methods)."""
    head = data.get("suite") if isinstance(data, dict) else None
    wants_auto = isinstance(head, dict) and head.get("seeds") == "auto"  # adaptive: min_seeds to max_seeds
    if wants_auto:
        data = {**data, "suite": {**head, "seeds": [0]}}
    parsed = schemas.check(schemas.SuiteFile, data, schemas.toml_key, prefix=f"suite {source}: ", top="table")
    head = parsed.suite
    labels = [parse_component(m).label() for m in head.methods]
    for key, entries in (("methods", head.methods), ("models", head.models), ("metrics", head.metrics)):
        written = [parse_component(m).label() for m in entries]
        twice = schemas.repeated(written)
        _expect(twice is None, source, f"[suite] {key}: {twice} is listed twice; each entry is one row")
    for key in ("baseline", "reference"):
        _expect(getattr(head, key) is None or getattr(head, key) in labels, source,
                f"{key} must be one of the suite's methods ({', '.join(labels)}), got {getattr(head, key)!r}")
    sweep_seeds = head.sweep_seeds or list(SWEEP_SEEDS)
    auto = check_auto(head.min_seeds or DEFAULT_MIN, head.max_seeds or DEFAULT_MAX,
                      f"suite {source}: [suite]") if wants_auto else None
    _expect(wants_auto or (head.min_seeds, head.max_seeds) == (None, None), source,
            '[suite] min_seeds and max_seeds bound adaptive seeds: they need seeds = "auto"')
    dataset = parsed.dataset.model_dump()
    source_set = parsed.source.model_dump() if parsed.source else None
    return Suite(name=head.name or default_name, description=head.description,
                 methods=tuple(parse_component(m) for m in head.methods),
                 models=tuple(parse_component(m) for m in head.models),
                 dataset=ComponentSpec(dataset.pop("name"), dataset), metrics=tuple(head.metrics),
                 budget=_budget(parsed.budget, source), auto_seeds=auto,
                 seeds=tuple(range(auto.low)) if auto else tuple(head.seeds),
                 sweep_seeds=tuple(sweep_seeds), source=source,
                 method_options=parsed.methods, model_options=parsed.models,
                 baseline=head.baseline, reference=head.reference, jobs=head.jobs, sweep=head.sweep,
                 augments=tuple(parse_component(a) for a in head.augment) or (ComponentSpec("none"),),
                 train_sizes=tuple(head.train_sizes),
                 checkpoint_every=checkpoint_every(parsed.budget, source),
                 source_set=ComponentSpec(source_set.pop("name"), source_set) if source_set else None)


MAX_SEED = schemas.MAX_SEED
check_seeds = schemas.check_seeds


def check_disjoint(suite: Suite) -> None:
    """Sweep seeds never train a ranked run (the selection's winner would be scored too)."""
    finals = range(suite.auto_seeds.high) if suite.auto_seeds else suite.seeds
    shared = sorted(set(finals) & set(suite.sweep_seeds))
    if shared:
        raise UserError(f"seed {shared[0]} is both a final seed and a sweep seed; sweep seeds must be disjoint "
                        f"from the final seeds (set --sweep-seeds or the suite's sweep_seeds; now "
                        f"{', '.join(map(str, suite.sweep_seeds))})")


def override_budget(budget: Budget, **changes) -> Budget:
    """The suite's budget with CLI overrides (None = keep); micro-batch follows a smaller effective batch."""
    changes = {k: None if v is NO_LIMIT else v for k, v in changes.items() if v is not None}
    if "micro_batch" not in changes and {"effective_batch", "processes"} & changes.keys():
        effective = changes.get("effective_batch", budget.effective_batch)
        processes = changes.get("processes", budget.processes)
        if effective % processes == 0:  # else Budget says why
            share = effective // processes
            micro = min(budget.micro_batch, share)
            changes["micro_batch"] = micro if share % micro == 0 else math.gcd(micro, share)
    schemas.check_budget({**asdict(budget), **changes},
                         lambda loc: "--" + loc[0].replace("_", "-") if loc and loc[0] in changes
                         else "the suite's [budget] " + ".".join(map(str, loc)) if loc else "budget")
    return replace(budget, **changes)


# ---------------------------------------------------------------- the matrix


@dataclass
class Plan:
    """The resolved matrix: one cell per model × method, and pairs skipped with the reason."""

    cells: list
    skipped: list  # (model, method label, reason)
    data_problem: str | None = None  # a dry run's data check that failed (a real run refuses to start)

    @property
    def specs(self) -> list[RunSpec]:
        """The runs known before anything runs (sweeps; the chosen rates' seeds come after)."""
        return [spec for cell in self.cells for spec in planned(cell)]

    def count(self) -> int:
        """Every run the matrix will do when nothing fails: sweep points (each rung's rates × sweep seeds, and
        the survivors at full length), then each final seed of the chosen rate."""
        return sum(count(c) for c in self.cells)


def plan(suite: Suite, registry, check_data: bool = True, declared: tuple = ()) -> Plan:
    """Every model × method cell, resolved and validated (classes, options, learning-rate grids, the data's
    files; with check_data=False a data problem is returned in Plan.data_problem instead). `declared`: the
    suite file's methods when the command line selected others (they decide the validation split too)."""
    dataset_cls = registry.get("dataset", suite.dataset.name)
    dataset = _options("dataset", dataset_cls, suite.dataset.name, suite.dataset.options)
    validation.check_train_sizes(suite.train_sizes, dataset, suite.dataset.name)
    problem = validation.check_data(dataset, check_data)
    task = dataset_cls.task
    metrics = validation.metrics(suite, registry, task)
    if suite.source_set is not None:
        source_cls = registry.get("dataset", suite.source_set.name)
        problem = problem or validation.check_data(_options("dataset", source_cls, suite.source_set.name,
                                                            suite.source_set.options), check_data)
        if source_cls.task != task:
            raise UserError(f"[source] dataset '{suite.source_set.name}' is task '{source_cls.task}', but the suite's "
                            f"dataset is task '{task}'")
    validation.check_option_tables(suite, registry)
    policies = validation.augment_policies(suite.augments, registry, dataset_cls, suite.dataset.name)
    cells, skipped = [], []
    models = {}  # by label: `blip2(preset=tiny)` and `blip2:tiny` are one model
    for m in suite.models:
        models.setdefault((c := canonical_model(m, registry.get_variant("model", m.name))).label(), c)
    for model in models.values():
        model_cls = registry.get_variant("model", model.name)
        plugin = model.name.partition(":")[0]
        model_opts = {**(suite.model_options.get(plugin, {}) if plugin != model.name else {}),
                      **suite.model_options.get(model.name, {}), **model.options}
        _options("model", model_cls, model.name, model_opts)
        if task not in model_cls.tasks:
            skipped.append((model.name, "*", f"model supports {', '.join(model_cls.tasks)}, not the dataset's "
                                              f"task '{task}'"))
            continue
        meta = validation.meta_bundle(model_cls, model.name, model_opts)
        for method in suite.methods:
            method_cls, options, grid = _method_grid(suite, registry, method)
            checked = _options("method", method_cls, method.name, options)
            validation.check_method(checked, meta)
            validation.check_head(checked, method.label(), model_cls, model.name, model_opts, task)
            cells += _method_cells(suite, method, options, grid, method_cls, model, model_opts, metrics, policies)
    # every run of a suite trains on the same examples, sweep or not, whichever of its methods are selected
    if any(cell.sweeps for cell in cells) or _sweeps(suite, registry, declared):
        cells = [replace(c, spec=replace(c.spec, validation_fraction=VALIDATION_FRACTION)) for c in cells]
    return Plan(cells, skipped, problem)


def _method_cells(suite: Suite, method, options: dict, grid: tuple, method_cls: type, model, model_opts: dict,
                  metrics: tuple, policies: list) -> list[Cell]:
    """A method's cells on one model: one per augmentation policy × data budget (one if it does not train)."""
    trains = bool(method_cls.trains)
    cells = []
    for augment in (policies if trains else [None]):
        for size in (suite.train_sizes if trains and suite.train_sizes else (0,)):
            label = method.label() + (f" + {augment.label()}" if augment else "") + (f" @{size}" if size else "")
            spec = RunSpec(suite=suite.name, method=ComponentSpec(method.name, options),
                           model=ComponentSpec(model.name, model_opts), dataset=suite.dataset, metrics=metrics,
                           budget=suite.budget, seed=suite.seeds[0], lr=grid[0], method_label=label,
                           source=suite.source_set, augment=augment, train_subset=size)
            cells.append(Cell(spec, grid, suite.seeds, trains=trains, sweep_seeds=suite.sweep_seeds,
                              halving=ETA if suite.sweep == "halving" else 0))
    return cells


def _options(kind: str, cls: type, name: str, options: dict):
    """`check_options` (the plugin's own __init__ runs): a plugin's bug there is one line naming it."""
    return validation.plugin_call(kind, name, "__init__", check_options, kind, cls, name, options,
                                  module=cls.__module__)


def canonical_model(spec: ComponentSpec, cls: type) -> ComponentSpec:
    """`blip2(preset=tiny)` is `blip2:tiny`: a variant given as its option (the class's `variant_option`, default
    `preset`) becomes part of the name, so the command line and a suite name one model one way, with one spec,
    one run id and the same `[models."blip2:tiny"]` table."""
    option = getattr(cls, "variant_option", "preset")
    value = spec.options.get(option)
    if ":" in spec.name or not isinstance(value, str) or not value:
        return spec
    return ComponentSpec(f"{spec.name}:{value}", {k: v for k, v in spec.options.items() if k != option})


def _method_grid(suite: Suite, registry, method: ComponentSpec) -> tuple[type, dict, tuple]:
    """A method's class, its options (the suite's option table under the entry's own) and learning-rate grid."""
    cls = registry.get_variant("method", method.name)
    options = {**suite.method_options.get(method.name, {}), **method.options}
    return cls, options, validation.lr_grid(method, cls, options)


def _sweeps(suite: Suite, registry, methods) -> bool:
    """Whether any of `methods` trains with a learning-rate grid."""
    return any(cls.trains and len(grid) > 1 for cls, _, grid in (_method_grid(suite, registry, m) for m in methods))


def baseline_of(suite: Suite, registry) -> str | None:
    """The suite's baseline: named in [suite] (one of its methods), else the first method that does not train."""
    if suite.baseline is not None:
        return suite.baseline
    return next((m.label() for m in suite.methods if not registry.get_variant("method", m.name).trains), None)


def reference_of(suite: Suite, registry) -> str | None:
    """The method differences are measured against: named in [suite], else `full`, else the first that trains."""
    labels = [m.label() for m in suite.methods]
    if suite.reference is not None and suite.reference in labels:
        return suite.reference
    if "full" in labels:
        return "full"
    return next((m.label() for m in suite.methods if registry.get_variant("method", m.name).trains), None)


def resolve(registry, suite_name: str, methods: str | None = None, models: str | None = None,
            seeds: tuple | None = None, budget_changes: dict | None = None,
            check_data: bool = True, sweep_seeds: tuple | None = None, sweep: str | None = None,
            auto: Auto | None = None, augment: str | None = None, train_sizes: tuple = ()) -> tuple[Suite, Plan]:
    """A suite with the command line's selections and overrides applied, and its planned matrix."""
    suite = load_suite(suite_name)
    declared = suite.methods
    if seeds:
        check_seeds(seeds, "--seeds")
        suite = replace(suite, auto_seeds=None)  # final seeds given: not adaptive
    if auto:
        seeds, suite = tuple(range(auto.low)), replace(suite, auto_seeds=auto)
    if augment is not None:
        suite = replace(suite, augments=validation.augment_list(augment))
    if train_sizes:
        suite = replace(suite, train_sizes=validation.train_sizes(train_sizes))
    if sweep_seeds:
        check_seeds(sweep_seeds, "--sweep-seeds")
    suite = replace(suite, methods=validation.select(methods, suite.methods) or suite.methods,
                    models=validation.select(models, suite.models) or suite.models, seeds=seeds or suite.seeds,
                    sweep_seeds=sweep_seeds or suite.sweep_seeds, sweep=sweep or suite.sweep,
                    budget=override_budget(suite.budget, **(budget_changes or {})))
    check_disjoint(suite)
    matrix = plan(suite, registry, check_data, declared=declared)
    if not matrix.cells:
        reasons = "; ".join(f"{model}: {reason}" for model, _, reason in matrix.skipped)
        raise UserError(f"nothing to run: every model × dataset pair was skipped ({reasons})")
    return suite, matrix


__all__ = ["Suite", "Plan", "load_suite", "find_suite", "suite_from_dict", "plan", "resolve", "baseline_of", "reference_of",
           "override_budget", "split_name"]
