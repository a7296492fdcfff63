"""What a run's numbers depend on beyond its configuration, collected where the run happens (`reuse` compares).

A record's identity names:
* `code`: a hash of the source of every benchhub or plugin module its process had loaded (the run's child
  and the preparation that made its checkpoint), so changing how results are shown (CLI, reports,
  statistics) re-runs nothing, and changing the loop, a plugin or the evaluation re-runs what used it;
* `checkpoint`: the pre-trained weights it started from: their cache key and the sha256 of their files;
* `machine`: the CPU model and the instruction set torch's kernels use (float sums differ between AVX2 and
  AVX512), or the GPU model, driver and CUDA version;
* `benchhub` and `plugins`: package versions.
Library versions and the device name are in the run id itself (`RunSpec.config_hash`).
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

CORE = ("benchhub", "benchhub_plugins")  # always part of the code identity; plugin packages add their own
# Modules that parse the command line and show results. A run's child has the CLI's modules only because
# multiprocessing imports the parent's __main__ (the `benchhub` script) in it; no run computes with them
# (tests/core/test_identity.py checks that a run's own imports never reach them).
PRESENTATION = ("benchhub.cli", "benchhub.commands", "benchhub.catalog", "benchhub.scaffold", "benchhub.report",
                "benchhub.compare", "benchhub.stats", "benchhub.paired", "benchhub.sweep", "benchhub.progress")


# ---------------------------------------------------------------- code


@lru_cache(maxsize=None)
def _package_dir(top: str) -> Path | None:
    """Where a top-level package or module lives, found without importing its submodules."""
    module = sys.modules.get(top)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    if not origin:
        return None
    path = Path(origin)
    return path.parent if path.name == "__init__.py" else path


def module_file(name: str) -> Path | None:
    """The source file of module `name` (None: not found)."""
    top, _, rest = name.partition(".")
    root = _package_dir(top)
    if root is None:
        return None
    if root.is_file():  # a single-file top-level module
        return root if not rest else None
    if not rest:
        return root / "__init__.py"
    base = root.joinpath(*rest.split("."))
    return next((c for c in (base.with_suffix(".py"), base / "__init__.py") if c.is_file()), None)


def file_hash(path: Path) -> str:
    """sha256 (12 hex digits) of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def module_hashes(names) -> dict:
    """{module: hash of its source now} (None where the module's file is gone)."""
    out = {}
    for name in sorted(names):
        path = module_file(name)
        out[name] = file_hash(path) if path is not None and path.is_file() else None
    return out


def loaded_code(tops=()) -> dict:
    """The benchhub and plugin modules this process has loaded, each with the hash of its source: what a
    run executed (`tops`: the top-level packages of its plugin classes)."""
    wanted = set(CORE) | set(tops)
    names = [name for name, module in list(sys.modules.items())
             if name.split(".")[0] in wanted and getattr(module, "__file__", None) and not presentation(name)]
    return module_hashes(names)


def presentation(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in PRESENTATION)


def tops_of(classes) -> list[str]:
    """The top-level packages and modules that provide `classes`, with every other top-level name their
    installed distributions ship (a plugin's helper module beside its package counts as its code)."""
    tops = {cls.__module__.split(".")[0] for cls in classes}
    dists = {d for top in tops for d in _distributions().get(top, [])}
    return sorted(tops | {top for top, owners in _distributions().items() if dists & set(owners)})


@lru_cache(maxsize=None)
def _distributions() -> dict:
    """{top-level name: [distributions that install it]} of this environment."""
    return metadata.packages_distributions()


def code_changes(recorded: dict) -> list[str]:
    """The modules of a recorded code identity whose source differs now (or is gone)."""
    now = module_hashes(recorded)
    return [name for name in sorted(recorded) if now.get(name) != recorded[name]]


# ---------------------------------------------------------------- machine and checkpoint


def machine(device=None) -> dict:
    """What float kernels a run on `device` (default CPU) used: CPU model and torch's CPU capability (e.g.
    AVX512, AVX2), and on CUDA the GPU, its driver and CUDA version."""
    import torch

    from benchhub.device import device_name

    cpu = device_name(torch.device("cpu")).removeprefix("CPU ").rsplit(" (", 1)[0]
    out = {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_isa": cpu_isa()}
    if device is not None and torch.device(device).type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
        out["cuda"] = torch.version.cuda
        out["driver"] = _nvidia_driver()
    return out


SIMD_FLAGS = ("sse", "ssse", "avx", "fma", "f16c", "amx", "vnni", "bf16", "fp16")


def cpu_isa() -> str | None:
    """The CPU's vector instruction-set flags (/proc/cpuinfo, sorted): the same model name can hide
    different ones (e.g. virtual CPUs of two EPYC generations), and oneDNN picks kernels by them."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    line = next((l for l in text.splitlines() if l.startswith(("flags", "Features"))), "")
    flags = sorted({f for f in line.partition(":")[2].split() if f.startswith(SIMD_FLAGS) or "vnni" in f})
    return " ".join(flags) or None


def _nvidia_driver() -> str | None:
    try:
        return Path("/proc/driver/nvidia/version").read_text().split("Kernel Module", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def files_sha256(directory: Path, suffixes=(".safetensors", ".bin", ".json", ".txt", ".model")) -> str:
    """sha256 over a checkpoint's files (names and bytes, sorted), benchhub's own checkpoint.json excluded."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file() and p.suffix in suffixes
                       and p.name != "checkpoint.json"):
        digest.update(str(path.relative_to(directory)).encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
