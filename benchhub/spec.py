"""What to run: components by name and options (`lora(r=8)`), and one fully resolved run."""
from __future__ import annotations

import hashlib
import inspect
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace

from benchhub.budget import Budget
from benchhub.errors import UserError

# ---------------------------------------------------------------- the `name(key=value,...)` syntax


@dataclass(frozen=True)
class ComponentSpec:
    """A registered component by name plus its options, e.g. lora(r=8)."""

    name: str
    options: dict = field(default_factory=dict)

    def label(self) -> str:
        if not self.options:
            return self.name
        inner = ",".join(f"{k}={_literal(v)}" for k, v in sorted(self.options.items()))
        return f"{self.name}({inner})"


def _literal(value) -> str:
    """An option value as the component syntax reads it back (TOML literals, bare simple strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:/-]*", value) and value not in ("true", "false") \
            else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) if not isinstance(v, str) else json.dumps(v) for v in value) + "]"
    return json.dumps(value) if value is None else str(value)


def split_top(text: str, sep: str = ",") -> list[str]:
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
    except RecursionError:
        raise UserError(f"option value nested too deeply: {text[:40]}…") from None


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
    for item in split_top(rest[:-1]):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UserError(f"cannot parse option '{item}' in '{text}'; use key=value")
        if key.strip() in options:
            raise UserError(f"option '{key.strip()}' is given twice in '{text}'; give each option once")
        options[key.strip()] = _value(value)
    return ComponentSpec(name.strip(), options)


def parse_component_list(text: str) -> list[ComponentSpec]:
    return [parse_component(p) for p in split_top(text)]


def split_name(name: str, cls: type | None = None) -> tuple[str, dict]:
    """'blip2:tiny' -> ('blip2', {'preset': 'tiny'}); 'peft:boft' -> ('peft', {'type': 'boft'}).

    The option a variant sets is the class's `variant_option` (default 'preset').
    """
    plugin, sep, variant = name.partition(":")
    option = cls.variant_option if cls is not None and hasattr(cls, "variant_option") else "preset"
    return plugin, ({option: variant} if sep else {})


def instantiate(cls: type, name: str, options: dict):
    """A component object from its registered class, its (possibly 'name:variant') name and options."""
    return cls(**split_name(name, cls)[1], **options)


def check_options(kind: str, cls: type, name: str, options: dict):
    """Validate a component's options (known, of their annotated types, then the class's own checks) by
    instantiating it once; returns the instance. Every problem is a one-line UserError."""
    variant = split_name(name, cls)[1]
    for key in variant.keys() & options.keys():
        raise UserError(f"{kind} '{name}' sets {key} by its name; do not give {key} as an option too")
    options = {**variant, **options}
    try:
        inspect.signature(cls).bind(**options)
    except TypeError:
        params = [p for p in inspect.signature(cls).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        bad = next((k for k in options if k not in {p.name for p in params}), sorted(options)[0])
        raise UserError(f"{kind} '{name}' has no option '{bad}'; options: "
                        f"{', '.join(p.name for p in params) or '(none)'}") from None
    for key, value in options.items():
        expected = _expected_types(cls).get(key)
        if expected is not None and not conforms(value, expected):
            shown = f'"{value}"' if isinstance(value, str) else _literal(value)
            raise UserError(f"{kind} '{name}': option {key} must be {describe_type(expected)}, got {shown}")
    return cls(**options)


def _expected_types(cls: type) -> dict:
    """Each option's type: its annotation in `__init__`, else its default's type (None: anything)."""
    import typing

    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: checked by the plugin only
        hints = {}
    out = {}
    for param in inspect.signature(cls).parameters.values():
        if param.name in hints:
            out[param.name] = hints[param.name]
        elif param.default not in (inspect.Parameter.empty, None):
            out[param.name] = type(param.default)
    return out


def conforms(value, hint) -> bool:
    """Whether an option value is of the annotated type (int is not bool; float takes finite ints and floats)."""
    import math
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any or hint is inspect.Parameter.empty:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(conforms(v, args[0]) for v in value) if args else \
            isinstance(value, (list, tuple))
    return isinstance(value, origin or hint) if isinstance(origin or hint, type) else True


def describe_type(hint) -> str:
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(hint))
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string",
             type(None): "unset"}
    if typing.get_origin(hint) in (list, tuple):
        return f"a list of {describe_type(typing.get_args(hint)[0]).split(' ', 1)[-1]}s" if typing.get_args(hint) \
            else "a list"
    return names.get(hint, f"a {getattr(hint, '__name__', hint)}")


# ---------------------------------------------------------------- one run


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix, fully resolved: what the child process runs."""

    suite: str
    method: ComponentSpec
    model: ComponentSpec
    dataset: ComponentSpec
    metrics: tuple[str, ...]
    budget: Budget
    seed: int
    lr: float
    method_label: str = ""
    source: ComponentSpec | None = None  # a dataset whose eval split is scored as the source set
    validation_fraction: float = 0.0  # carved from train when the dataset has no validation split (lr grids)
    rung: int = 0  # a successive-halving rung (`benchhub.halving`): stop after 1/rung of the planned steps
    augment: ComponentSpec | None = None  # a data-augmentation policy (`benchhub.augment`); None: none
    train_subset: int = 0  # a data budget (`benchhub.subsets`): train on this many examples; 0: all

    def __post_init__(self):
        if not self.method_label:
            object.__setattr__(self, "method_label", self.method.label())

    def config(self) -> dict:
        """The resolved configuration (what is hashed, minus the environment)."""
        return {
            "suite": self.suite,
            "method": {"name": self.method.name, "options": self.method.options, "lr": self.lr},
            "method_label": self.method_label,
            "model": asdict(self.model),
            "dataset": asdict(self.dataset),
            "metrics": list(self.metrics),
            "budget": _budget_config(self.budget),
            "seed": self.seed,
            **({"source": asdict(self.source)} if self.source else {}),
            **({"validation_fraction": self.validation_fraction} if self.validation_fraction else {}),
            **({"rung": self.rung} if self.rung else {}),
            **({"augment": asdict(self.augment)} if self.augment else {}),
            **({"train_subset": self.train_subset} if self.train_subset else {}),
        }

    def config_hash(self, environment: dict) -> str:
        """The run id: the configuration, library versions and device (the record's file name)."""
        keyed = {"config": self.config(), "versions": environment.get("versions", {}),
                 "device": environment.get("device")}
        blob = json.dumps(keyed, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_config(cls, config: dict) -> RunSpec:
        return cls(
            suite=config["suite"],
            method=ComponentSpec(config["method"]["name"], dict(config["method"]["options"])),
            model=ComponentSpec(**config["model"]),
            dataset=ComponentSpec(**config["dataset"]),
            metrics=tuple(config["metrics"]),
            budget=Budget(**config["budget"]),
            seed=config["seed"],
            lr=config["method"]["lr"],
            method_label=config.get("method_label", ""),
            source=ComponentSpec(**config["source"]) if config.get("source") else None,
            validation_fraction=config.get("validation_fraction", 0.0),
            rung=config.get("rung", 0),
            augment=ComponentSpec(**config["augment"]) if config.get("augment") else None,
            train_subset=config.get("train_subset", 0),
        )


def _budget_config(budget: Budget) -> dict:
    """The budget as configured; one process (the default) is left out, so run ids from before
    `processes` existed stay the same."""
    out = asdict(budget)
    if out["processes"] == 1:
        del out["processes"]
    return out


# The seed a learning-rate sweep trains with: never one of the final seeds, so no ranked number comes from
# the run that won the selection (a winner's curse), whatever --seeds are chosen.
SWEEP_SEEDS = (1000,)


@dataclass(frozen=True)
class Cell:
    """One model × method pair of a suite: its learning-rate grid, its final seeds and its sweep seeds.

    With a grid of several rates, each rate trains with the sweep seeds (disjoint from the final ones)
    and is scored on the validation split (the sweep; `halving`: successive halving's reduction factor,
    0 for every rate at full length); the rate chosen there then runs with every final seed and only those
    runs are scored on the evaluation split. A method that does not train runs once.
    """

    spec: RunSpec  # at the grid's first rate and the first seed
    grid: tuple[float, ...]
    seeds: tuple[int, ...]
    trains: bool = True
    sweep_seeds: tuple[int, ...] = SWEEP_SEEDS
    halving: int = 0

    def at(self, lr: float, seed: int, rung: int = 0) -> RunSpec:
        return replace(self.spec, lr=lr, seed=seed, rung=rung)

    @property
    def sweeps(self) -> bool:
        return self.trains and len(self.grid) > 1

    def final_specs(self, lr: float) -> list[RunSpec]:
        return [self.at(lr, seed) for seed in (self.seeds if self.trains else self.seeds[:1])]
