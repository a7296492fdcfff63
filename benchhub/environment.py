"""What a run's result depends on besides its configuration: library versions, device, source code."""
from __future__ import annotations

import hashlib
import importlib
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from benchhub.device import device_name

LIBRARIES = ("benchhub", "torch", "transformers", "peft", "tokenizers", "bitsandbytes", "pycocoevalcap")


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device) -> dict:
    """Recorded with every run: library versions, device, platform, git commit."""
    versions = {"python": platform.python_version()}
    for dist in LIBRARIES:
        versions[dist] = version(dist)
    return {"versions": versions, "device": device_name(device), "device_type": device.type,
            "platform": platform.platform(), "git_sha": git_sha()}


@lru_cache(maxsize=None)
def source_hash(top_level: str) -> str | None:
    """sha256 (12 hex digits) of the source files of an importable top-level package or module."""
    module = sys.modules.get(top_level) or importlib.import_module(top_level)
    path = Path(module.__file__ or "")
    files = sorted(p for p in path.parent.rglob("*") if p.suffix in (".py", ".json", ".toml")) \
        if path.name == "__init__.py" else [path]
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(path.parent)).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12] if files else None


@lru_cache(maxsize=None)
def _distributions() -> dict:
    return metadata.packages_distributions()


def package_of(cls: type) -> dict:
    """The installed package that provides `cls`: top-level module, distribution, version, source hash."""
    top = cls.__module__.split(".")[0]
    dists = _distributions().get(top) or []
    dist = dists[0] if dists else None
    return {"module": top, "package": dist, "version": version(dist) if dist else None,
            "source": source_hash(top)}


def identity(classes: list[type]) -> dict:
    """What decides whether a stored run is reused, beyond its configuration (run id)."""
    plugins = {}
    for cls in classes:
        info = package_of(cls)
        plugins[info.pop("module")] = info
    return {"benchhub": version("benchhub"), "source": source_hash("benchhub"),
            "plugins": dict(sorted(plugins.items()))}
