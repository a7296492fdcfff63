"""Suite files (TOML) and the `name(key=value,...)` component syntax; the resolved run matrix."""
from __future__ import annotations

import inspect
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from benchhub.errors import UserError, unknown_name
from benchhub.records import Budget, ComponentSpec, RunSpec, parse_memory

BUILTIN_SUITES = Path(__file__).resolve().parent.parent / "benchmarks"


@dataclass(frozen=True)
class Suite:
    name: str
    methods: tuple[ComponentSpec, ...]
    models: tuple[ComponentSpec, ...]
    dataset: ComponentSpec
    metrics: tuple[str, ...]
    budget: Budget
    seeds: tuple[int, ...] = (0,)
    description: str = ""
    source: str = ""
    method_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if depth or quote:
        raise UserError(f"unbalanced brackets or quotes in '{text}'")
    parts.append(cur.strip())
    return [p for p in parts if p]


def _value(text: str):
    """A TOML literal if it parses as one (8, 1e-3, true, ["q_proj","v_proj"]), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_component(text: str) -> ComponentSpec:
    """'lora(r=8,alpha=16)' -> ComponentSpec('lora', {'r': 8, 'alpha': 16})."""
    text = text.strip()
    if "(" not in text:
        if not text or any(c in text for c in ")=[]"):
            raise UserError(f"cannot parse component '{text}'; use name or name(key=value,...)")
        return ComponentSpec(text)
    name, _, rest = text.partition("(")
    if not rest.endswith(")") or not name.strip():
        raise UserError(f"cannot parse component '{text}'; use name or name(key=value,...)")
    options = {}
    for item in _split_top(rest[:-1]):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UserError(f"cannot parse option '{item}' in '{text}'; use key=value")
        options[key.strip()] = _value(value)
    return ComponentSpec(name.strip(), options)


def parse_component_list(text: str) -> list[ComponentSpec]:
    return [parse_component(p) for p in _split_top(text)]


def find_suite(name_or_path: str) -> Path:
    """A path to a TOML file, or the name of a suite in ./benchmarks or benchhub's benchmarks/."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise UserError(f"suite file '{name_or_path}' does not exist")
        return path
    dirs = [Path.cwd() / "benchmarks", BUILTIN_SUITES]
    for d in dirs:
        candidate = d / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    available = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise unknown_name("suite", name_or_path, available)


_BUDGET_KEYS = {f.name for f in fields(Budget)} | {"memory_limit"}


def load_suite(name_or_path: str) -> Suite:
    path = find_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"malformed suite file {path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read suite file {path}: {exc}") from None
    return suite_from_dict(data, default_name=path.stem, source=str(path))


def _expect(cond: bool, source: str, message: str) -> None:
    if not cond:
        raise UserError(f"suite {source}: {message}")


def suite_from_dict(data: dict, default_name: str = "suite", source: str = "<dict>") -> Suite:
    known = {"suite", "budget", "methods", "models", "dataset"}
    extra = sorted(set(data) - known)
    _expect(not extra, source, f"unknown table '{extra[0] if extra else ''}'; expected: {', '.join(sorted(known))}")
    head = data.get("suite", {})
    _expect(isinstance(head, dict), source, "[suite] must be a table")
    for key in ("methods", "models"):
        _expect(isinstance(head.get(key), list) and head[key] and all(isinstance(v, str) for v in head[key]),
                source, f"[suite] {key} must be a non-empty list of strings")
    for key in ("budget", "methods", "models"):
        _expect(isinstance(data.get(key, {}), dict), source, f"[{key}] must be a table")
    for key in ("methods", "models"):
        bad = [k for k, v in data.get(key, {}).items() if not isinstance(v, dict)]
        _expect(not bad, source, f"[{key}.{bad[0] if bad else ''}] must be a table of options")
    name = head.get("name", default_name)
    _expect(isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or "") is not None,
            source, f"suite name must be letters, digits, '.', '_' or '-', got {name!r}")
    budget_table = dict(data.get("budget", {}))
    unknown = set(budget_table) - _BUDGET_KEYS
    _expect(not unknown, source, f"unknown budget key '{sorted(unknown)[0] if unknown else ''}'; "
            f"expected: {', '.join(sorted(_BUDGET_KEYS - {'memory_limit_bytes'}))}")
    if "memory_limit" in budget_table:
        budget_table["memory_limit_bytes"] = parse_memory(budget_table.pop("memory_limit"))
    try:
        budget = Budget(**budget_table)
    except TypeError as exc:
        raise UserError(f"suite {source}: bad budget: {exc}") from None
    dataset = data.get("dataset", {})
    _expect(isinstance(dataset, dict) and isinstance(dataset.get("name"), str), source,
            "[dataset] needs a name, e.g. name = \"shapes\"")
    dataset = dict(dataset)
    seeds = head.get("seeds", [0])
    _expect(isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds), source,
            "seeds must be a non-empty list of integers")
    metrics = head.get("metrics", [])
    _expect(isinstance(metrics, list) and all(isinstance(m, str) for m in metrics), source,
            "metrics must be a list of names")
    return Suite(
        name=name,
        description=head.get("description", ""),
        methods=tuple(parse_component(m) for m in head["methods"]),
        models=tuple(parse_component(m) for m in head["models"]),
        dataset=ComponentSpec(dataset.pop("name"), dataset),
        metrics=tuple(metrics),
        budget=budget,
        seeds=tuple(dict.fromkeys(seeds)),
        source=source,
        method_options=data.get("methods", {}),
        model_options=data.get("models", {}),
    )


def override_budget(budget: Budget, **changes) -> Budget:
    """The suite's budget with CLI overrides (None = keep); micro-batch follows a smaller effective batch."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if "effective_batch" in changes and "micro_batch" not in changes:
        changes["micro_batch"] = min(budget.micro_batch, changes["effective_batch"])
    return replace(budget, **changes)


def _check_options(kind: str, cls: type, options: dict, label: str) -> None:
    """Instantiate cheaply to validate options; an unknown option is a one-line error."""
    try:
        inspect.signature(cls).bind(**options)
    except TypeError:
        params = [p for p in inspect.signature(cls).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        bad = next((k for k in options if k not in {p.name for p in params}), sorted(options)[0])
        raise UserError(f"{kind} '{label}' has no option '{bad}'; options: "
                        f"{', '.join(p.name for p in params) or '(none)'}") from None
    cls(**options)


def split_name(name: str, cls: type | None = None) -> tuple[str, dict]:
    """'blip2:tiny' -> ('blip2', {'preset': 'tiny'}); 'peft:boft' -> ('peft', {'type': 'boft'}).

    The option a variant sets is the class's `variant_option` (default 'preset').
    """
    plugin, sep, variant = name.partition(":")
    option = getattr(cls, "variant_option", "preset")
    return plugin, ({option: variant} if sep else {})


def instantiate(cls: type, name: str, options: dict):
    """A component object from its registered class, its (possibly 'name:variant') name and options."""
    return cls(**split_name(name, cls)[1], **options)


@dataclass
class Plan:
    """The resolved matrix: runs to do, and pairs skipped with the reason."""

    specs: list
    skipped: list  # (model, method label, reason)


def plan(suite: Suite, registry) -> Plan:
    """Every method × model × seed cell, resolved and validated (classes, options, learning rates)."""
    dataset_cls = registry.get("dataset", suite.dataset.name)
    _check_options("dataset", dataset_cls, suite.dataset.options, suite.dataset.name)
    task = getattr(dataset_cls, "task", "caption")
    for label in suite.metrics:
        metric = parse_component(label)
        metric_cls = registry.get("metric", split_name(metric.name)[0])
        _check_options("metric", metric_cls, {**split_name(metric.name, metric_cls)[1], **metric.options},
                       metric.name)
        metric_task = getattr(instantiate(metric_cls, metric.name, metric.options), "task", task)
        if metric_task != task:
            raise UserError(f"metric '{metric.name}' scores task '{metric_task}', but dataset '{suite.dataset.name}' "
                            f"is task '{task}'")
    metrics = tuple(parse_component(m).label() for m in suite.metrics) or tuple(
        n for n in registry.names("metric") if getattr(registry.get("metric", n), "task", None) == task)[:1]
    specs, skipped = [], []
    for model in suite.models:
        model_cls = registry.get("model", split_name(model.name)[0])
        model_opts = {**suite.model_options.get(model.name, {}), **model.options}
        _check_options("model", model_cls, {**split_name(model.name, model_cls)[1], **model_opts}, model.name)
        if task not in getattr(model_cls, "tasks", (task,)):
            skipped.append((model.name, "*", f"model supports {', '.join(model_cls.tasks)}, not the dataset's "
                                              f"task '{task}'"))
            continue
        for method in suite.methods:
            method_cls = registry.get("method", split_name(method.name)[0])
            options = {**suite.method_options.get(method.name, {}), **method.options}
            lr = options.pop("lr", getattr(method_cls, "default_lr", 1e-4))
            if not isinstance(lr, (int, float)) or lr < 0:
                raise UserError(f"method '{method.label()}': lr must be a non-negative number, got {lr!r}")
            _check_options("method", method_cls, {**split_name(method.name, method_cls)[1], **options},
                           method.name)
            for seed in suite.seeds:
                specs.append(RunSpec(
                    suite=suite.name, method=ComponentSpec(method.name, options),
                    model=ComponentSpec(model.name, model_opts), dataset=suite.dataset,
                    metrics=tuple(metrics), budget=suite.budget, seed=seed, lr=float(lr),
                    method_label=method.label()))
    return Plan(specs, skipped)
