"""What is installed, described from the plugins themselves: `benchhub methods|models|datasets|metrics|suites`.

Each option's type and default come from the plugin's `__init__` signature (the same annotations
benchhub checks option values against); its one-line help from an `Options:` section of the class
docstring, one `name: help` line per option:

    class Lora(benchhub.Method):
        \"\"\"Low-rank adapters (peft LoraConfig); the base model stays frozen.

        Options:
            r: rank of the adapter matrices
        \"\"\"
"""
from __future__ import annotations

import inspect
import re

from benchhub.errors import UserError, unknown_name

KIND_NAMES = {"methods": "method", "models": "model", "datasets": "dataset", "metrics": "metric",
              "augmentations": "augmentation"}
_OPTION_LINE = re.compile(r"^\s+(\w+):\s+(.+)$")


def summary(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line."""
    doc = (inspect.getdoc(cls) or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def option_help(cls: type) -> dict[str, str]:
    """`name: help` lines of the `Options:` sections of a class's docstrings, its bases' first (a subclass
    inherits its base's options and may describe them again)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__doc__:
            out.update(_options_section(inspect.cleandoc(klass.__doc__)))
    return out


def _options_section(doc: str) -> dict[str, str]:
    out, current, inside = {}, None, False
    for line in doc.splitlines():
        if line.strip() == "Options:":
            inside = True
            continue
        if not inside:
            continue
        if not line.strip() or not line.startswith(" "):
            if out:
                break
            continue
        match = _OPTION_LINE.match(line)
        if match and len(match.group(1)) < 40 and line.startswith("    ") and not line.startswith("      "):
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current:
            out[current] += " " + line.strip()
    return out


def options(cls: type) -> list[dict]:
    """Each option of a plugin class: name, type, default (repr), help; then the options its `**kwargs`
    take, from the class's `extra_options()` where it has one (a PEFT config's fields, a recipe)."""
    from benchhub.spec import _expected_types, describe_type

    types, helps = _expected_types(cls), option_help(cls)
    out = []
    for param in inspect.signature(cls).parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            continue
        default = "required" if param.default is inspect.Parameter.empty else _literal(param.default)
        hint = types.get(param.name)
        out.append({"name": param.name, "type": describe_type(hint) if hint is not None else "any",
                    "default": default, "help": helps.get(param.name, "")})
    extra = getattr(cls, "extra_options", None)
    for name, hint, value, text in extra() if extra else []:
        hint = hint if hint is not None else (type(value) if value is not None else None)
        out.append({"name": name, "type": describe_type(hint) if hint is not None else "any",
                    "default": _literal(value), "help": text})
    return out


def _literal(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def listing(registry, kind: str) -> list[dict]:
    """Every installed component of `kind` ('method', ...): name, plugin, summary, extras."""
    rows = []
    for name in registry.names(kind):
        cls = registry.get(kind, name)
        row = {"name": name, "plugin": registry.owners.get((kind, name)), "summary": summary(cls)}
        if kind == "method":
            row["default_lr"] = getattr(cls, "default_lr", None)
        if kind == "model":
            row["presets"] = list(getattr(cls, "presets", ()))
        if kind == "augmentation":
            row["changes"] = list(getattr(cls, "changes", ()))
        rows.append(row)
    return rows


def details(registry, kind: str, name: str) -> dict:
    """One component: its listing entry and its options (a `model:preset` name selects the model)."""
    base = name.partition(":")[0]
    if base not in registry.names(kind):
        raise unknown_name(kind, name, registry.names(kind))
    cls = registry.get(kind, base)
    entry = next(row for row in listing(registry, kind) if row["name"] == base)
    return {**entry, "doc": inspect.getdoc(cls) or "", "options": options(cls)}


def suites() -> list[dict]:
    """The suites `--suite NAME` finds: ./benchmarks first, then benchhub's own."""
    import tomllib

    from benchhub.suite import suite_dirs

    seen, out = set(), []
    for folder in suite_dirs():
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            if path.stem in seen:
                continue
            seen.add(path.stem)
            try:
                suite = tomllib.loads(path.read_text()).get("suite", {})
            except (tomllib.TOMLDecodeError, OSError) as exc:
                raise UserError(f"suite file {path} does not parse: {exc}") from None
            out.append({"name": path.stem, "path": str(path), "description": suite.get("description", ""),
                        "methods": suite.get("methods", []), "models": suite.get("models", [])})
    return out
