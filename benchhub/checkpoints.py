"""Checkpoints built on first use (e.g. pre-trained tiny presets), cached under a recipe hash."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from benchhub.fileio import remove_orphans


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
    remove_orphans(target.parent, f"{glob.escape(target.name)}.tmp*")  # left by a preparation that was killed
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        info = make(tmp)
        (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2))
    except BaseException:  # an error, a timeout's SIGTERM, Ctrl-C: the cache is left clean
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(target)
    except OSError:  # another process finished first; use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return {**info, "checkpoint": str(target), "cached": False}


def save_weights(model, directory) -> None:
    """`save_pretrained` where the model has it (PEFT: the adapter only), else model.safetensors."""
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(directory)
        return
    from safetensors.torch import save_model

    Path(directory).mkdir(parents=True, exist_ok=True)
    save_model(model, str(Path(directory) / "model.safetensors"))


def load_weights(bundle, directory, method) -> None:
    """Restore `save_weights` output onto a freshly built bundle, as `method` had adapted it."""
    directory = Path(directory)
    if (directory / "adapter_config.json").exists():
        from peft import PeftModel

        bundle.model = PeftModel.from_pretrained(bundle.model, directory)
        return
    method.prepare(bundle)
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no safetensors weights in {directory}")
    state = {}
    for f in files:
        state.update(load_file(f))
    missing, unexpected = bundle.model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"weights in {directory} do not fit the model: unexpected {unexpected[:3]}")
    # save_pretrained drops tied duplicates (e.g. lm_head = embed_tokens): allow only those
    aliases, id_of = {}, {}
    for name, p in bundle.model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(p), set()).add(name)
        id_of[name] = id(p)
    untied = [m for m in missing if m in id_of and not aliases[id_of[m]] & set(state)]
    if untied:
        raise ValueError(f"weights in {directory} miss {untied[:3]}")
