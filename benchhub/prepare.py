"""`benchhub prepare`: the models of suites made ready before anything runs (a tiny preset is shipped
pre-trained with the package, or pre-trained once and cached), and `--rebuild`: the shipped tiny checkpoints
pre-trained afresh from their recipes, byte-for-byte what the package holds when this machine's CPU
instruction set is the one that made them.

Models opt in with two methods (docs/writing-plugins.md): `prepare(log, progress)` (any model: make ready,
e.g. pre-train into the cache) and `rebuild_shipped(log, progress)` (a model that ships checkpoints).
"""
from __future__ import annotations

import time

from benchhub.errors import UserError


def suite_models(registry, suite_names: list[str]) -> list[tuple[str, object]]:
    """(label, model instance) of every distinct model the suites run, as their plans resolve it (suite option
    tables applied, a preset given as an option folded into the name)."""
    from benchhub.spec import instantiate
    from benchhub.suite import load_suite, plan

    models: dict[str, object] = {}
    for name in suite_names:
        for cell in plan(load_suite(name), registry, check_data=False).cells:
            spec = cell.spec.model
            if spec.label() not in models:
                models[spec.label()] = instantiate(registry.get_variant("model", spec.name), spec.name, spec.options)
    return sorted(models.items())


def builtin_suites() -> list[str]:
    """The suites benchhub ships whose models are all offline (tiny presets)."""
    from benchhub.catalog import suites

    return [s["name"] for s in suites() if s["models"] and all(m.split("(")[0].endswith(":tiny")
                                                                   for m in s["models"])]


def prepare(registry, suite_names: list[str], rebuild: bool, echo) -> int:
    """Prepare (or, with `rebuild`, re-make the shipped checkpoints of) every model the suites run; returns how
    many shipped checkpoints changed."""
    models = suite_models(registry, suite_names)
    if not models:
        raise UserError("the suites run no model")
    changed = 0
    for label, model in models:
        start = time.monotonic()
        if rebuild:
            rebuild_shipped = getattr(model, "rebuild_shipped", None)
            info = rebuild_shipped(log=lambda m: None) if rebuild_shipped else None
            if info is None:
                echo(f"{label}: ships no checkpoint (nothing to rebuild)")
                continue
            changed += bool(info["changed"])
            echo(f"{label}: rebuilt in {time.monotonic() - start:.1f} s, sha256 {info['sha256'][:16]} "
                 f"({'changed' if info['changed'] else 'identical to the one shipped'}; made on "
                 f"{info['made_with']['cpu_capability']})")
            continue
        info = model.prepare(log=lambda m: None)
        where = ("shipped with the package" if _is_shipped(model) else "cached" if (info or {}).get("cached") else
                 f"pre-trained in {time.monotonic() - start:.1f} s and cached" if info else "nothing to prepare")
        echo(f"{label}: {where}" + (f" ({info['checkpoint']})" if info and info.get("checkpoint") else ""))
    return changed


def _is_shipped(model) -> bool:
    shipped = getattr(model, "shipped", None)
    return bool(shipped and shipped())
