"""Checkpoints built on first use (e.g. pre-trained tiny presets), cached under a recipe hash."""
from __future__ import annotations

import contextlib
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
    """`<cache>/<prefix>-<hash of recipe, library versions and CPU instruction set>`: float results follow
    each of them. The source of the code that makes the checkpoint is checked when it is read (`current`)."""
    from benchhub.identity import machine, version

    key = json.dumps({"recipe": recipe, "torch": (version("torch") or "").split("+")[0],
                      "transformers": version("transformers"), "tokenizers": version("tokenizers"),
                      "cpu_capability": machine()["cpu_capability"]}, sort_keys=True)
    return cache_root() / f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def current(target: Path) -> dict | None:
    """The info of the checkpoint at `target` if it exists and the code that made it is today's (its
    `code`: the modules the making process had loaded), with the sha256 of its files; else None."""
    from benchhub.identity import code_changes, files_sha256

    info_file = target / "checkpoint.json"
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("code"), dict) or code_changes(info["code"]):
        return None
    return {**info, "key": target.name, "sha256": files_sha256(target)}


def cached_checkpoint(target: Path, make: Callable[[Path], dict], tops=()) -> dict:
    """Return the info of the checkpoint at `target`, making it with `make(tmp_dir)` if missing or made by
    other code (`tops`: plugin packages whose loaded modules count as that code, beside benchhub's).

    The checkpoint appears atomically (written aside, then renamed): a half-written one is never used.
    """
    from benchhub.identity import loaded_code

    found = current(target)
    if found is not None:
        return {**found, "checkpoint": str(target), "cached": True}
    remade = _why_stale(target)
    remove_orphans(target.parent, f"{glob.escape(target.name)}.tmp*")  # left by a preparation that was killed
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        info = make(tmp)
        info["code"] = loaded_code(tops)
        (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2))
    except BaseException:  # an error, a timeout's SIGTERM, Ctrl-C: the cache is left clean
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():  # made by other code: replaced, never used
        aside = target.with_name(f"{target.name}.tmp{os.getpid()}-old")
        with contextlib.suppress(OSError):
            target.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first; use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return {**(current(target) or {**info, "key": target.name}), "checkpoint": str(target), "cached": False,
            **({"remade": remade} if remade else {})}


def _why_stale(target: Path) -> str | None:
    """Why an existing checkpoint at `target` is not used (None: there is none)."""
    from benchhub.identity import code_changes

    try:
        info = json.loads((target / "checkpoint.json").read_text())
    except (OSError, ValueError):
        return "unreadable" if target.exists() else None
    changed = code_changes(info.get("code") or {}) if isinstance(info.get("code"), dict) else []
    return f"code changed: {', '.join(changed[:3])}" if changed else "made by an earlier benchhub"


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
