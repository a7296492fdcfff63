"""Files that appear whole or not at all."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, text: str | bytes, durable: bool = False) -> Path:
    """Write `text` beside `path`, then rename: readers see the old file or the new one, never half.

    The file gets the usual permissions (0666 minus the umask), not mkstemp's 0600. `durable`
    also fsyncs before the rename (records: a power cut must not leave an empty file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def open_image(path):
    """An image file as RGB. Decompression bombs (more pixels than Pillow's limit, e.g. a 30000×30000
    header on a tiny file) are refused with ValueError before any pixel is decoded; unreadable files
    raise OSError."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(f"image {path} refused as a decompression bomb ({exc})") from None
