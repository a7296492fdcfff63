"""Loading real checkpoints: safetensors only, no remote code, one clear line when offline."""
from __future__ import annotations

from pathlib import Path

from benchhub.errors import RunFailure


def from_pretrained(cls, source: str, **kwargs):
    """`cls.from_pretrained(source)` from a local directory or a hub id, with one-line failures."""
    path = Path(source).expanduser()
    is_dir = path.is_dir()
    if not is_dir and path.exists():
        raise RunFailure(f"local model path '{source}' is not a directory")
    if not is_dir and source.startswith((".", "/", "~")):
        raise RunFailure(f"local model directory '{source}' does not exist")
    source = str(path) if is_dir else source
    options = {"trust_remote_code": False, **kwargs}
    if "Processor" not in cls.__name__ and "Tokenizer" not in cls.__name__:
        options["use_safetensors"] = True
    try:
        return cls.from_pretrained(source, **options)
    except OSError as exc:
        if is_dir:
            raise RunFailure(f"cannot load {cls.__name__} from '{source}': {str(exc).splitlines()[0]}") from None
        raise RunFailure(f"cannot load '{source}': it is not a local directory, not in the local Hugging Face "
                         f"cache, and the Hub is unreachable or does not have it (offline?)") from None
