"""Files that appear whole or not at all."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp")
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


def owner_tag() -> str:
    """`host-pid` of this process: in temporary names, so that a later start can tell a dead writer's
    leftovers from a live writer's file in progress."""
    return f"{socket.gethostname().split('.')[0]}-{os.getpid()}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def orphaned(name: str, mtime: float | None = None, max_age: float = 3600.0) -> bool:
    """Whether a temporary file or directory belongs to a writer that is gone: named with `owner_tag()`
    (or `name.tmp<pid>`) of this host and a PID that no longer runs, or older than `max_age` seconds
    (another host's, or a name without its writer)."""
    host = socket.gethostname().split(".")[0]
    match = re.search(r"\.([A-Za-z0-9_-]+)-(\d+)\.[^/]*tmp$", name)
    pid = int(match.group(2)) if match and match.group(1) == host else None
    if pid is None and (local := re.search(r"\.tmp(\d+)$", name)):  # model caches: this host's
        pid = int(local.group(1))
    if pid is not None:
        return not alive(pid)
    return mtime is not None and time.time() - mtime > max_age


def remove_orphans(directory, pattern: str) -> list[Path]:
    """Remove the temporary files (or directories) matching `pattern` in `directory` left by writers that
    died (a kill during a write); a live writer's are kept."""
    removed = []
    for path in Path(directory).glob(pattern) if Path(directory).is_dir() else []:
        with contextlib.suppress(OSError):
            if orphaned(path.name, mtime=path.stat().st_mtime):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def _pil_quiet():
    """Pillow's warnings silenced, except a decompression-bomb warning, which becomes an exception."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _bomb(path, exc) -> ValueError:
    """A decompression bomb as one line: its pixel count and the limit (Pillow's MAX_IMAGE_PIXELS)."""
    import re

    from PIL import Image

    match = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(match.group(1)):,} pixels" if match else str(exc).strip()
    return ValueError(f"image {path} refused as a decompression bomb ({size}; allowed: at most "
                      f"{Image.MAX_IMAGE_PIXELS:,} pixels, Pillow's MAX_IMAGE_PIXELS)")


def open_image(path):
    """An image file as RGB. Decompression bombs (more pixels than Pillow's limit, e.g. a 30000×30000
    header on a tiny file) are refused with ValueError before any pixel is decoded, and no Pillow warning
    is printed; unreadable files raise OSError."""
    from PIL import Image

    with _pil_quiet():
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(path, exc) from None


def check_image(path) -> tuple[int, int]:
    """The image file's size after opening and decoding it as open_image would, only cheaper (a JPEG is
    decoded at 1/8 scale: every byte of it is still read, so truncation is caught), printing no warning.
    ValueError for a decompression bomb (refused from the header, before any pixel is decoded); any other
    exception means Pillow cannot decode the file (OSError, SyntaxError, ... as Pillow's plugins raise)."""
    from PIL import Image

    with _pil_quiet(), open(path, "rb") as fh:
        try:
            with Image.open(fh) as image:
                size = image.size
                if image.format == "JPEG":
                    image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                image.load()
                image.convert("RGB")
                return size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(path, exc) from None
