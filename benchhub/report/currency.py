"""Which records a table ranks: only those measured as benchhub would measure them today, one row per method.

A record is current when its library versions and device, its machine (CPU instruction set, GPU), its
package versions and the source of every module its runs executed are today's (`identity`), and, for a
run at a swept learning rate, when the current sweep still chooses that rate. The others are set aside:
never deleted, never ranked, listed under the table with what changed.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from benchhub import identity, reuse
from benchhub.records import RunRecord

REFRESH = "`benchhub run` with the same suite re-measures those of other code, libraries or machine"


@lru_cache(maxsize=1)
def today() -> dict:
    """The environment a run would record now (versions, device, machine), once per process."""
    from benchhub.device import select_device
    from benchhub.environment import environment

    return environment(select_device())


def changes(record: RunRecord, now: dict) -> list[str]:
    """What differs between how `record` was measured and how it would be now (empty: current)."""
    out = reuse.environment_changes(record.environment, now)
    stored = record.identity or {}
    plugins = {top: {"version": identity.version(info.get("package")) if info.get("package") else None}
               for top, info in (stored.get("plugins") or {}).items()}
    out += reuse.changes(stored, {"benchhub": identity.version("benchhub"), "plugins": plugins,
                                     "machine": now.get("machine"), "checkpoint": stored.get("checkpoint")})
    return out


def _compatible(a: RunRecord, b: RunRecord) -> bool:
    """Measured alike: same environment and machine, and the modules both ran have the same source."""
    if reuse.environment_changes(a.environment, b.environment) or \
            (a.environment or {}).get("machine") != (b.environment or {}).get("machine"):
        return False
    code_a, code_b = (a.identity or {}).get("code") or {}, (b.identity or {}).get("code") or {}
    return all(code_a[m] == code_b[m] for m in set(code_a) & set(code_b))


def cell_key(record: RunRecord) -> str:
    """A method's configuration without its rate and seed: the runs of one sweep and its final runs."""
    config = {k: v for k, v in record.config.items() if k not in ("seed", "suite", "rung")}
    config["method"] = {k: v for k, v in config["method"].items() if k != "lr"}
    return json.dumps(config, sort_keys=True, default=str)


@dataclass
class Currency:
    """A table's records split: the ones it ranks, and the ones set aside with why."""

    current: list
    stale: list = field(default_factory=list)  # (record, [reasons])
    note: str | None = None  # set when no record is current: whose measurements the table shows instead


def split(group: list[RunRecord], now: dict | None = None) -> Currency:
    """The records of one table that are current (`changes`), at the rate their sweep chooses, one
    configuration per method; if none is current, those measured like the latest record, with a note."""
    now = today() if now is None else now
    why = {id(r): changes(r, now) for r in group}
    current = [r for r in group if not why[id(r)]]
    note = None
    if not current:
        latest = max(group, key=lambda r: r.started_at or "")
        current = [r for r in group if _compatible(r, latest)]
        note = (f"No record of this table was measured as benchhub measures today ({'; '.join(why[id(latest)])}): "
                f"it shows the measurements of {latest.started_at or 'the latest run'}, ranked among themselves; "
                f"{REFRESH}.")
    kept = {id(r) for r in current}
    stale = [(r, why[id(r)] or ["measured with other code or environment than this table's"])
             for r in group if id(r) not in kept]
    current, moved = _chosen_rates(current)
    current, superseded = _one_per_method(current)
    return Currency(current, stale + moved + superseded, note)


def _chosen_rates(records: list[RunRecord]) -> tuple[list, list]:
    """Final runs at a rate their current sweep does not choose are set aside (the sweep replayed from its
    records as the matrix ran it: successive halving when the final run's selection says so)."""
    from benchhub.halving import advance
    from benchhub.spec import Cell, RunSpec

    sweeps: dict[str, dict] = defaultdict(dict)
    for r in records:
        if r.role in ("rung", "sweep"):
            sweeps[cell_key(r)][r.config.get("rung", 0), r.config["method"]["lr"], r.seed] = r
    keep, aside, chosen = [], [], {}
    for r in records:
        key = cell_key(r)
        grid = (r.selection or {}).get("grid")
        if r.role in ("rung", "sweep") or not grid or key not in sweeps:
            keep.append(r)
            continue
        if key not in chosen:
            seeds = tuple((r.selection or {}).get("seeds") or sorted({s for _, _, s in sweeps[key]}))
            eta = ((r.selection or {}).get("halving") or {}).get("eta", 0)
            cell = Cell(RunSpec.from_config(r.config), tuple(grid), (r.seed,), sweep_seeds=seeds, halving=eta)
            selection = advance(cell, sweeps[key])[1]
            chosen[key] = selection["chosen"] if selection else None
        rate = r.config["method"]["lr"]
        if chosen[key] is None or chosen[key] == rate:
            keep.append(r)
        else:
            aside.append((r, [f"learning rate {rate:g}: the current sweep chooses {chosen[key]:g}"]))
    return keep, aside


def _one_per_method(records: list[RunRecord]) -> tuple[list, list]:
    """One configuration per method label: the latest one measured; earlier ones are set aside."""
    from benchhub.report.rows import row_key

    configs: dict[str, dict] = defaultdict(dict)
    for r in records:
        if r.grid_point:
            continue
        configs[r.label].setdefault(row_key(r), []).append(r)
    aside_ids = set()
    for label, by_config in configs.items():
        if len(by_config) > 1:
            latest = max(by_config, key=lambda k: max(r.started_at or "" for r in by_config[k]))
            aside_ids |= {id(r) for k, rs in by_config.items() if k != latest for r in rs}
    keep = [r for r in records if id(r) not in aside_ids]
    aside = [(r, ["a later run of the same method has other settings"]) for r in records if id(r) in aside_ids]
    return keep, aside


def summary(stale: list) -> list[tuple[str, int, str, str]]:
    """Set-aside records by method and reason: (method, runs, seeds, reasons), sorted."""
    grouped: dict[tuple, list] = defaultdict(list)
    for record, reasons in stale:
        grouped[record.label, "; ".join(reasons)].append(record)
    return [(label, len(records), ", ".join(str(s) for s in sorted({r.seed for r in records})), reasons)
            for (label, reasons), records in sorted(grouped.items())]


__all__ = ["Currency", "split", "changes", "summary", "today", "REFRESH"]
