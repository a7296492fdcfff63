"""Plugin manager: entry-point discovery, the component registry, listing and blocking."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import pluggy

from benchhub import hookspecs
from benchhub.components import RunClasses, complete
from benchhub.errors import UserError, unknown_name
from benchhub.spec import instantiate, parse_component, split_name

ENTRY_POINT_GROUP = "benchhub"
KINDS = ("method", "model", "dataset", "metric", "augmentation")


@dataclass
class Registry:
    """Components by kind and name, and which plugin registered each."""

    components: dict[str, dict[str, type]] = field(default_factory=lambda: {k: {} for k in KINDS})
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, kind: str, cls: type, plugin_name: str) -> None:
        name = complete(kind, cls, plugin_name).name
        if name in self.components[kind]:
            other = self.owners[(kind, name)]
            raise UserError(f"{kind} '{name}' is registered twice: by plugin '{other}' and by plugin '{plugin_name}'")
        self.components[kind][name] = cls
        self.owners[(kind, name)] = plugin_name

    def get(self, kind: str, name: str) -> type:
        try:
            return self.components[kind][name]
        except KeyError:
            raise unknown_name(kind, name, self.components[kind]) from None

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get_variant(self, kind: str, name: str) -> type:
        """The class behind a possibly 'name:variant' name ('blip2:tiny' -> the blip2 class)."""
        return self.get(kind, split_name(name)[0])

    def create(self, kind: str, name: str, **options):
        """An instance of a registered component, e.g. create("dataset", "shapes", domain="source")."""
        return instantiate(self.get_variant(kind, name), name, options)

    def classes_for(self, spec) -> RunClasses:
        """The classes that serve a run."""
        return RunClasses(method=self.get_variant("method", spec.method.name),
                          model=self.get_variant("model", spec.model.name),
                          dataset=self.get("dataset", spec.dataset.name),
                          metrics={m: self.get_variant("metric", parse_component(m).name) for m in spec.metrics},
                          source=self.get("dataset", spec.source.name) if spec.source else None,
                          augment=self.get_variant("augmentation", spec.augment.name) if spec.augment else None)


def new_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("benchhub")
    manager.add_hookspecs(hookspecs)
    return manager


pm = new_plugin_manager()
_loaded = False
_registry: Registry | None = None


def _env_list(var: str) -> list[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def load_plugins() -> pluggy.PluginManager:
    """Load entry-point plugins once; BENCHHUB_LOAD_PLUGINS limits, BENCHHUB_BLOCK_PLUGINS blocks."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    for name in _env_list("BENCHHUB_BLOCK_PLUGINS") or []:
        pm.set_blocked(name)
    only = _env_list("BENCHHUB_LOAD_PLUGINS")
    for name in only if only is not None else [None]:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
    pm.check_pending()
    return pm


def registry() -> Registry:
    """The component registry, built from every loaded plugin's register_* hooks (cached)."""
    global _registry
    if _registry is None:
        load_plugins()
        reg = Registry()
        for kind in KINDS:
            caller = pm.hook.__dict__[f"register_{kind}s"]
            for impl in reversed(caller.get_hookimpls()):  # registration order = load order
                impl.function(register=lambda cls, _k=kind, _p=impl.plugin_name: reg.add(_k, cls, _p))
        _registry = reg
    return _registry


def reset() -> None:
    """Forget the cached registry (after registering or unregistering a plugin at run time)."""
    global _registry
    _registry = None


def describe_plugins() -> list[dict]:
    """One entry per plugin: name, package, version, hooks and what it registered."""
    load_plugins()
    reg = registry()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        if plugin is hookspecs:
            continue
        dist = dists.get(id(plugin))
        registers = {
            kind: sorted(n for (k, n), owner in reg.owners.items() if k == kind and owner == name)
            for kind in KINDS
        }
        out.append(
            {
                "name": name,
                "package": dist.project_name if dist else None,
                "version": dist.version if dist else None,
                "module": plugin.__name__ if hasattr(plugin, "__name__") else type(plugin).__name__,
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
                "registers": {k: v for k, v in registers.items() if v},
            }
        )
    return sorted(out, key=lambda p: p["name"])
