"""Datasets on disk checked before anything runs: every path stays inside the dataset's folder (symlinks
resolved), and a malformed, empty or duplicated entry is named by its file and line."""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

from benchhub.errors import UserError


def inside(root: Path, name, where: str) -> Path:
    """`root / name`, refused when `name` is absolute, escapes with `..`, or is a symlink out of `root`."""
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{where}: file name must be a non-empty string, got {name!r}")
    if os.path.isabs(name):
        raise UserError(f"{where}: file name '{name}' is an absolute path; names are relative to {root}")
    path = root / name
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise UserError(f"{where}: '{name}' points outside {root} (to {real}); refused")
    return path


def read_json(path: Path, what: str):
    """The parsed file; malformed JSON names the file, line and column."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{what} {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} line {exc.lineno} column {exc.colno}: not JSON ({exc.msg})") from None


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


def coco_images(data, text: str, path: Path, root: Path) -> list[dict]:
    """COCO captions JSON -> [{"path", "captions"}] for images with a non-empty caption, every entry checked."""
    def where(key, i):
        line = line_of(text, key, i)
        return f"{path}{f' line {line}' if line else ''} ({key}[{i}])"

    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        found = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)[:6]}"
        raise UserError(f"{path}: expected COCO captions JSON (an object with lists 'images' and 'annotations') "
                        f"or Karpathy's dataset_coco.json, found {found}")
    by_id: dict = {}
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("id"), (int, str)) or "file_name" not in image:
            raise UserError(f"{where('images', i)}: an image needs an integer or string 'id' and a 'file_name'")
        if image["id"] in by_id:
            raise UserError(f"{where('images', i)}: duplicate image id {image['id']!r} (also at "
                            f"images[{by_id[image['id']][0]}])")
        by_id[image["id"]] = (i, {"path": inside(root, image["file_name"], where("images", i)), "captions": []})
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            raise UserError(f"{where('annotations', i)}: an annotation needs an 'image_id' and a string 'caption'")
        if ann["image_id"] not in by_id:
            raise UserError(f"{where('annotations', i)}: image_id {ann['image_id']!r} is not in 'images'")
        if ann["caption"].strip():
            by_id[ann["image_id"]][1]["captions"].append(ann["caption"])
    images = [entry for _, entry in by_id.values() if entry["captions"]]
    if not images:
        raise UserError(f"{path}: no image has a non-empty caption ({len(data['images'])} images, "
                        f"{len(data['annotations'])} annotations)")
    return images


def karpathy_images(data: dict, text: str, path: Path, root: Path) -> list[dict]:
    """Karpathy's dataset_coco.json -> [{"path", "captions", "split"}], every entry checked."""
    out, seen = [], {}
    for i, image in enumerate(data["images"]):
        line = line_of(text, "images", i)
        where = f"{path}{f' line {line}' if line else ''} (images[{i}])"
        if not isinstance(image, dict) or not isinstance(image.get("sentences"), list) or "filename" not in image:
            raise UserError(f"{where}: a Karpathy image needs 'filename' and a list of 'sentences'")
        captions = [s.get("raw") for s in image["sentences"] if isinstance(s, dict)]
        if not all(isinstance(c, str) for c in captions) or len(captions) != len(image["sentences"]):
            raise UserError(f"{where}: every sentence needs a string 'raw'")
        name = os.path.join(image.get("filepath") or "", str(image["filename"]))
        if name in seen:
            raise UserError(f"{where}: duplicate image '{name}' (also at images[{seen[name]}])")
        seen[name] = i
        captions = [c for c in captions if c.strip()]
        if captions:
            out.append({"path": inside(root, name, where), "captions": captions, "split": image.get("split")})
    if not out:
        raise UserError(f"{path}: no image has a non-empty caption ({len(data['images'])} images)")
    return out


def imagefolder_rows(directory: Path, text_column: str) -> int:
    """An imagefolder's metadata checked (file names inside the folder, captions present, no duplicates) and
    its files (no symlink out of the folder); returns the number of captioned rows."""
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            inside(directory, str(path.relative_to(directory)), f"imagefolder {directory}")
    sources = [p for p in (directory / "metadata.jsonl", directory / "metadata.csv") if p.is_file()]
    if not sources:
        images = [p for p in directory.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")]
        raise UserError(f"imagefolder {directory}: no metadata.jsonl or metadata.csv with file_name and "
                        f"'{text_column}' columns ({len(images)} images, no captions)")
    seen: dict = {}
    for source in sources:
        for line, row in _metadata_rows(source):
            where = f"{source} line {line}"
            if not isinstance(row, dict) or "file_name" not in row:
                raise UserError(f"{where}: a row needs 'file_name' and '{text_column}'")
            if text_column not in row:
                raise UserError(f"{where}: no '{text_column}' column (found {', '.join(sorted(row))})")
            path = inside(directory, row["file_name"], where)
            if not path.is_file():
                raise UserError(f"{where}: no file '{row['file_name']}' in {directory}")
            _not_a_bomb(path, where)
            seen.setdefault(row["file_name"], line)  # several rows of one image: several captions
    if not seen:
        raise UserError(f"imagefolder {directory}: its metadata has no rows")
    return len(seen)


def _not_a_bomb(path: Path, where: str) -> None:
    """Read the image's header only: more pixels than Pillow's limit is refused before any decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            size = image.size
    except Image.DecompressionBombError as exc:
        raise UserError(f"{where}: '{path.name}' refused as a decompression bomb ({exc})") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"{where}: '{path.name}' is not an image Pillow can read ({exc})") from None
    if Image.MAX_IMAGE_PIXELS and size[0] * size[1] > Image.MAX_IMAGE_PIXELS:
        raise UserError(f"{where}: '{path.name}' refused as a decompression bomb ({size[0]}×{size[1]} pixels, "
                        f"limit {Image.MAX_IMAGE_PIXELS})")


def _metadata_rows(source: Path):
    """(line number, row) of metadata.jsonl or metadata.csv; malformed lines name their line."""
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{source}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    if source.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        try:
            for row in reader:
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
