"""Checkpoints built on first use (e.g. pre-trained tiny presets), cached under a recipe hash."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable


def cache_root() -> Path:
    """$BENCHHUB_CACHE, else ~/.cache/benchhub."""
    return Path(os.environ.get("BENCHHUB_CACHE") or Path.home() / ".cache" / "benchhub")


def keyed_dir(prefix: str, recipe: dict) -> Path:
    """`<cache>/<prefix>-<hash of recipe and library versions>`."""
    import tokenizers
    import torch
    import transformers

    key = json.dumps({"recipe": recipe, "torch": torch.__version__.split("+")[0],
                      "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
                     sort_keys=True)
    return cache_root() / f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def cached_checkpoint(target: Path, make: Callable[[Path], dict]) -> dict:
    """Return the info of the checkpoint at `target`, making it with `make(tmp_dir)` if missing.

    The checkpoint appears atomically (written aside, then renamed): a half-written one is never used.
    """
    info_file = target / "checkpoint.json"
    if info_file.exists():
        return {**json.loads(info_file.read_text()), "checkpoint": str(target), "cached": True}
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    info = make(tmp)
    (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2))
    try:
        tmp.rename(target)
    except OSError:  # another process finished first; use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return {**info, "checkpoint": str(target), "cached": False}
