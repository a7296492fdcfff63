"""Whether a stored record is reused: the identity a run would have now, and what differs from a record's.

`identity` collects what a run depends on (in the run's processes); this module compares, in benchhub's
own process: a record is reused only when `changes` finds nothing.
"""
from __future__ import annotations

from benchhub.identity import _distributions, code_changes, tops_of, version


def plugin_packages(classes) -> dict:
    """{top-level module: {"package", "version"}} of the installed packages that provide `classes`."""
    out = {}
    for top in sorted({cls.__module__.split(".")[0] for cls in classes}):
        dists = _distributions().get(top) or []
        out[top] = {"package": dists[0] if dists else None, "version": version(dists[0]) if dists else None}
    return out


def expected(classes, machine_info: dict, checkpoint: dict | None) -> dict:
    """The identity a run would have now, known before it runs (its code is what the stored record names)."""
    return {"benchhub": version("benchhub"), "plugins": plugin_packages(classes), "machine": machine_info,
            "checkpoint": checkpoint}


def measured(before: dict, code: dict, checkpoint: dict | None) -> dict:
    """A run's identity as recorded: `before` (`expected`) with the code its processes loaded and the
    checkpoint they started from (key and sha256 as the preparation found them)."""
    return {**before, "code": dict(sorted(code.items())), "checkpoint": checkpoint or before.get("checkpoint")}


def changes(stored: dict | None, now: dict) -> list[str]:
    """What differs between a stored record's identity and today's, in words (empty: the same)."""
    if not stored or "code" not in stored:
        return ["recorded before benchhub kept the code a run executed"]
    out = []
    if stored.get("benchhub") != now.get("benchhub"):
        out.append(f"benchhub {stored.get('benchhub')} → {now.get('benchhub')}")
    for top in sorted(set(stored.get("plugins") or {}) | set(now.get("plugins") or {})):
        a, b = (stored.get("plugins") or {}).get(top) or {}, (now.get("plugins") or {}).get(top) or {}
        if a.get("version") != b.get("version"):
            out.append(f"plugin {top} {a.get('version')} → {b.get('version')}")
    changed = code_changes(stored["code"])
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        out.append(f"code changed: {shown}")
    old_m, new_m = stored.get("machine") or {}, now.get("machine") or {}
    for key in ("cpu_capability", "cpu", "gpu", "driver", "cuda"):
        if old_m.get(key) != new_m.get(key):
            out.append(f"machine: {key.replace('_', ' ')} {old_m.get(key)} → {new_m.get(key)}")
    if old_m.get("cpu_isa") != new_m.get("cpu_isa"):
        gone = sorted(set((old_m.get("cpu_isa") or "").split()) - set((new_m.get("cpu_isa") or "").split()))
        added = sorted(set((new_m.get("cpu_isa") or "").split()) - set((old_m.get("cpu_isa") or "").split()))
        out.append("machine: CPU instruction set differs (" + ", ".join(
            [f"without {' '.join(gone)}"] * bool(gone) + [f"with {' '.join(added)}"] * bool(added)) + ")")
    old_c, new_c = stored.get("checkpoint") or {}, now.get("checkpoint") or {}
    if old_c.get("key") != new_c.get("key"):
        out.append(f"checkpoint {old_c.get('key')} → {new_c.get('key')}")
    elif new_c.get("sha256") and old_c.get("sha256") and new_c["sha256"] != old_c["sha256"]:
        out.append(f"checkpoint weights differ: sha256 {old_c['sha256'][:12]} → {new_c['sha256'][:12]}")
    return out


def environment_changes(old: dict, new: dict) -> list[str]:
    """How two records' environments (library versions, device) differ, in words: a record of the same
    configuration measured elsewhere has another run id, and this says why it was not reused."""
    out = []
    if old.get("device") != new.get("device"):
        out.append(f"device {old.get('device')} → {new.get('device')}")
    a, b = old.get("versions") or {}, new.get("versions") or {}
    out += [f"{name} {a.get(name)} → {b.get(name)}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    return out
