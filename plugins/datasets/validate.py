"""Datasets on disk checked before anything runs: every path stays inside the dataset's folder (symlinks
resolved), a malformed, mistyped, empty or duplicated entry is named by its file and line, and every image
a run would read is opened and decoded (regular, non-empty, within Pillow's pixel limit, not truncated).
Decoding is the costly part: it is skipped when the same files, byte for byte by their metadata and every
image's size, times and inode, passed before (a cache entry under $BENCHHUB_CACHE/data-checks)."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import stat
import time
import unicodedata
from pathlib import Path

from benchhub.errors import UserError, first_line

# a file changed less than this long before a check is not cached: a file system's clock is coarse, so a
# second write in the same tick could leave size and times as they were (git's "racy clean" problem)
RACY_SECONDS = 2.0
METADATA = ("metadata.jsonl", "metadata.csv")


def _shown(name) -> str:
    """A name from a data file as one quoted line (control characters escaped)."""
    return repr(name) if isinstance(name, str) else json.dumps(name)[:60]


def inside(root: Path, name, where: str, real_root: str | None = None) -> Path:
    """`root / name`, refused when `name` is not a usable relative file name (empty, a NUL or other control
    character), is absolute, escapes with `..`, or is a symlink out of `root` (`real_root`: root's resolved
    path, when the caller already has it)."""
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{where}: file name must be a non-empty string, got {_shown(name)}")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")), None)
    if bad is not None:
        raise UserError(f"{where}: file name {_shown(name)} contains {_shown(bad)}; allowed: a relative path "
                        "of printable characters (no NUL, control character or line break)")
    if os.path.isabs(name):
        raise UserError(f"{where}: file name '{name}' is an absolute path; names are relative to {root}")
    path = root / name
    try:
        real = os.path.realpath(path, strict=False)
        real_root = real_root or os.path.realpath(root)
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise UserError(f"{where}: file name '{name}' cannot be resolved ({first_line(exc, with_type=False)})") \
            from None
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UserError(f"{where}: '{name}' points outside {root} (to {real}); refused")
    return path


def read_json(path: Path, what: str):
    """(the parsed file, its text, its bytes); malformed JSON names the file, line and column."""
    data = _read(path, what)
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text), text, data
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} line {exc.lineno} column {exc.colno}: not JSON ({exc.msg})") from None


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
        data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{what} {path}: cannot read it as UTF-8 text "
                        f"({getattr(exc, 'strerror', None) or first_line(exc, with_type=False)})") from None
    return data


def line_of(text: str, key: str, index: int) -> int | None:
    """The line where element `index` of the top-level list `key` starts in a JSON text (for messages)."""
    match = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    if match is None:
        return None
    decoder, pos = json.JSONDecoder(), match.end()
    for i in range(index + 1):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if i == index:
            return text.count("\n", 0, pos) + 1
        try:
            pos = decoder.raw_decode(text, pos)[1]
        except json.JSONDecodeError:
            return None
    return None


class Where:
    """`FILE line N (key[i])` of a JSON file's entry, its line found only when the text is shown (an error):
    finding it is linear in the file, so finding every entry's would be quadratic."""

    def __init__(self, path: Path, text: str, key: str, index: int):
        self.path, self.text, self.key, self.index = path, text, key, index

    def __str__(self) -> str:
        line = line_of(self.text, self.key, self.index)
        return f"{self.path}{f' line {line}' if line else ''} ({self.key}[{self.index}])"


def coco_images(data, text: str, path: Path, root: Path) -> list[dict]:
    """COCO captions JSON -> [{"path", "name", "where", "captions"}] for images with a non-empty caption, every
    entry checked."""
    def where(key, i):
        return Where(path, text, key, i)

    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        found = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)[:6]}"
        raise UserError(f"{path}: expected COCO captions JSON (an object with lists 'images' and 'annotations') "
                        f"or Karpathy's dataset_coco.json, found {found}")
    by_id: dict = {}
    real_root = os.path.realpath(root)
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or isinstance(image.get("id"), bool) \
                or not isinstance(image.get("id"), (int, str)) or "file_name" not in image:
            raise UserError(f"{where('images', i)}: an image needs an integer or string 'id' and a 'file_name'")
        if image["id"] in by_id:
            raise UserError(f"{where('images', i)}: duplicate image id {image['id']!r} (also at "
                            f"images[{by_id[image['id']][0]}])")
        entry = {"path": inside(root, image["file_name"], where("images", i), real_root), "name": image["file_name"],
                 "where": where("images", i), "captions": []}
        by_id[image["id"]] = (i, entry)
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            found = f", got {_kind(ann.get('caption'))}" if isinstance(ann, dict) and "caption" in ann else ""
            raise UserError(f"{where('annotations', i)}: an annotation needs an 'image_id' and a string "
                            f"'caption'{found}")
        if isinstance(ann["image_id"], (list, dict)) or ann["image_id"] not in by_id:
            raise UserError(f"{where('annotations', i)}: image_id {ann['image_id']!r} is not in 'images'")
        if ann["caption"].strip():
            by_id[ann["image_id"]][1]["captions"].append(ann["caption"])
    images = [entry for _, entry in by_id.values() if entry["captions"]]
    if not images:
        raise UserError(f"{path}: no image has a non-empty caption ({len(data['images'])} images, "
                        f"{len(data['annotations'])} annotations)")
    return images


def karpathy_images(data: dict, text: str, path: Path, root: Path) -> list[dict]:
    """Karpathy's dataset_coco.json -> [{"path", "name", "where", "captions", "split"}], every entry checked."""
    out, seen, real_root = [], {}, os.path.realpath(root)
    for i, image in enumerate(data["images"]):
        where = Where(path, text, "images", i)
        if not isinstance(image, dict) or not isinstance(image.get("sentences"), list) or "filename" not in image:
            raise UserError(f"{where}: a Karpathy image needs 'filename' and a list of 'sentences'")
        captions = [s.get("raw") for s in image["sentences"] if isinstance(s, dict)]
        if not all(isinstance(c, str) for c in captions) or len(captions) != len(image["sentences"]):
            raise UserError(f"{where}: every sentence needs a string 'raw'")
        for key, required in (("filename", True), ("filepath", False), ("split", False)):
            value = image.get(key)
            if not isinstance(value, str) and (required or value is not None):
                raise UserError(f"{where}: '{key}' must be a string, got {_kind(value)}")
        name = os.path.join(image.get("filepath") or "", image["filename"])
        if name in seen:
            raise UserError(f"{where}: duplicate image '{name}' (also at images[{seen[name]}])")
        seen[name] = i
        captions = [c for c in captions if c.strip()]
        if captions:
            out.append({"path": inside(root, name, where, real_root), "name": name, "where": where,
                        "captions": captions, "split": image.get("split")})
    if not out:
        raise UserError(f"{path}: no image has a non-empty caption ({len(data['images'])} images)")
    return out


def _kind(value) -> str:
    """A JSON value's type and a glimpse of it, for 'must be a string, got ...'."""
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object",
             str: "a string", type(None): "null"}
    kind = names.get(type(value), type(value).__name__)
    return kind if value is None else f"{kind} {json.dumps(value)[:40]}"


def _json_type(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), "null")


def no_symlink_out(directory: Path) -> list[Path]:
    """Every file and folder under `directory` (symlinked folders not entered), refused when a symlink among
    them resolves outside it; returns the metadata files found (metadata.jsonl / metadata.csv, any depth)."""
    metadata = []

    def unreadable(exc: OSError):
        raise UserError(f"imagefolder {directory}: cannot list {exc.filename} ({exc.strerror})")

    for top, dirs, files in os.walk(directory, onerror=unreadable):
        base = Path(top)
        for name in dirs + files:
            path = base / name
            try:
                link = path.is_symlink()
            except OSError as exc:
                raise UserError(f"imagefolder {directory}: cannot read {path} ({exc.strerror})") from None
            if link:
                inside(directory, str(path.relative_to(directory)), f"imagefolder {directory}")
            if name in METADATA and name in files:
                metadata.append(path)
        dirs.sort()
    return sorted(metadata)


def imagefolder_rows(directory: Path, text_column: str) -> int:
    """An imagefolder checked as 🤗 datasets will read it: one kind of metadata file (metadata.jsonl or
    metadata.csv, in any folder; file names relative to it and inside it), every row with a 'file_name' and
    a string caption, one JSON type per column, at least 2 captioned images, every image decodable, no
    symlink out of the folder. Returns the number of distinct captioned images."""
    sources = no_symlink_out(directory)
    kinds = {p.name for p in sources}
    if len(kinds) > 1:
        jsonl = next(p for p in sources if p.name == "metadata.jsonl")
        csv_file = next(p for p in sources if p.name == "metadata.csv")
        raise UserError(f"imagefolder {directory}: both {jsonl} and {csv_file} are present; allowed: one kind "
                        "of metadata file (metadata.jsonl or metadata.csv), as 🤗 datasets refuses both")
    if not sources:
        images = [p for p in directory.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")]
        raise UserError(f"imagefolder {directory}: no metadata.jsonl or metadata.csv with file_name and "
                        f"'{text_column}' columns ({len(images)} images, no captions)")
    entries, captioned, contents = [], set(), []
    for source in sources:
        data = _read(source, "imagefolder metadata")
        contents.append((source, data))
        real_parent = os.path.realpath(source.parent)
        types: dict = {}
        for line, row in _metadata_rows(source, data.decode("utf-8")):
            where = f"{source} line {line}"
            if not isinstance(row, dict) or "file_name" not in row:
                raise UserError(f"{where}: a row needs 'file_name' and '{text_column}'")
            if text_column not in row:
                raise UserError(f"{where}: no '{text_column}' column (found "
                                f"{', '.join(_shown(k) for k in sorted(row))})")
            if not isinstance(row[text_column], str):
                raise UserError(f"{where}: '{text_column}' must be a string (a caption), got "
                                f"{_kind(row[text_column])}")
            for key, value in row.items():  # pyarrow refuses a column whose type changes from row to row
                kind = _json_type(value)
                first = types.setdefault(key, (kind, line)) if kind != "null" else (kind, line)
                if first[0] != kind:
                    raise UserError(f"{where}: column {_shown(key)} is {kind} here but {first[0]} at line "
                                    f"{first[1]}; allowed: one JSON type per column (or null)")
            path = inside(source.parent, row["file_name"], where, real_parent)
            entries.append((path, row["file_name"], where))
            if row[text_column].strip():
                captioned.add(path)
    if not entries:
        raise UserError(f"imagefolder {directory}: its metadata has no rows")
    if len(captioned) < 2:
        raise UserError(f"imagefolder {directory}: {len(captioned)} captioned image(s); a training and a "
                        "held-out split need at least 2")
    check_images(directory, contents, entries)
    return len(captioned)


def _metadata_rows(source: Path, text: str):
    """(line number, row) of metadata.jsonl or metadata.csv; malformed lines name their line."""
    if source.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        try:
            for row in reader:
                if None in row:
                    raise UserError(f"{source} line {reader.line_num}: more fields than the header "
                                    f"({', '.join(reader.fieldnames or [])})")
                if None in row.values():
                    raise UserError(f"{source} line {reader.line_num}: fewer fields than the header "
                                    f"({', '.join(reader.fieldnames or [])})")
                yield reader.line_num, row
        except csv.Error as exc:
            raise UserError(f"{source} line {reader.line_num}: malformed CSV ({exc})") from None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{source} line {number}: not JSON ({exc.msg})") from None


# ---------------------------------------------------------------- images


def _file_stat(path: Path, name: str, where: str) -> os.stat_result:
    """The image file's stat; a missing file, a folder, a FIFO or device, or an empty file is refused."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserError(f"{where}: no file '{name}' in {path.parent}") from None
    except OSError as exc:
        raise UserError(f"{where}: cannot read '{name}' ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"{where}: '{name}' is a directory; allowed: an image file")
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{where}: '{name}' is not a regular file (a FIFO, socket or device); allowed: an image "
                        "file")
    if info.st_size == 0:
        raise UserError(f"{where}: '{name}' is empty (0 bytes); allowed: an image file")
    return info


def check_code_version() -> str:
    """What a cached check result depends on besides the files: this check's code, Pillow and its limit."""
    import PIL
    from PIL import Image

    import benchhub.fileio

    code = Path(__file__).read_bytes() + Path(benchhub.fileio.__file__).read_bytes()
    return hashlib.sha256(code + f"{PIL.__version__}/{Image.MAX_IMAGE_PIXELS}".encode()).hexdigest()


def cache_file(root: Path, metadata: list[tuple[Path, bytes]], stats: list[tuple[str, os.stat_result]]) -> Path:
    """The cache entry of one check: named by a sha256 of the check's code version, the dataset's folder,
    each metadata file's path and bytes, and each image's name, size, mtime, ctime, inode and device."""
    from benchhub.checkpoints import cache_root

    digest = hashlib.sha256()
    digest.update(json.dumps([check_code_version(), str(root.resolve())]).encode())
    for source, data in metadata:
        digest.update(json.dumps([str(source), hashlib.sha256(data).hexdigest()]).encode())
    for name, info in stats:
        digest.update(json.dumps([name, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino,
                                  info.st_dev]).encode())
    return cache_root() / "data-checks" / f"{digest.hexdigest()}.json"


def check_images(root: Path, metadata: list[tuple[Path, bytes]], entries: list[tuple[Path, str, str]]) -> int:
    """Every image of `entries` ((path, name as written, where)) is a non-empty regular file, and (unless
    this exact set of files passed before) opens and decodes within Pillow's pixel limit, no warning
    printed. A pass is cached unless a file changed within RACY_SECONDS. Returns the number of images."""
    from PIL import UnidentifiedImageError

    from benchhub.fileio import atomic_write, check_image

    started = time.time_ns()
    unique: dict[Path, tuple[str, str]] = {}
    for path, name, where in entries:
        unique.setdefault(path, (name, where))
    stats = [(str(path), _file_stat(path, *named)) for path, named in unique.items()]
    target = cache_file(root, metadata, stats)
    if target.is_file():
        return len(unique)
    for path, (name, where) in unique.items():
        try:
            check_image(path)
        except ValueError as exc:  # "image PATH refused as a decompression bomb (...)"
            message = str(exc)
            raise UserError(f"{where}: '{name}' {message[message.find('refused'):]}") from None
        except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on hostile bytes
            why = ("no format Pillow knows matches its bytes" if isinstance(exc, UnidentifiedImageError)
                   else first_line(exc, with_type=False))
            raise UserError(f"{where}: '{name}' is not an image Pillow can decode ({why}); allowed: a complete "
                            "image file in a format Pillow reads (PNG, JPEG, ...)") from None
    newest = max([max(info.st_mtime_ns, info.st_ctime_ns) for _, info in stats] or [0])
    if newest < started - RACY_SECONDS * 1e9:
        try:
            atomic_write(target, json.dumps({"images": len(unique), "root": str(root)}) + "\n")
        except OSError:
            pass  # a read-only cache: the next check decodes again
    return len(unique)
