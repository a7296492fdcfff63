"""Captioned images from disk or the Hub: an imagefolder (🤗 datasets), COCO-format JSON, a hub dataset id."""
from __future__ import annotations

import random
from pathlib import Path

import benchhub
from benchhub.errors import HUB_SETTINGS, RunFailure, first_line
from benchhub import Splits
from benchhub_plugins.datasets.common import check_sizes
from benchhub_plugins.datasets.validate import check_images, coco_images, imagefolder_rows, karpathy_images, read_json


def _check_sizes(name: str, eval_fraction=0.2, **sizes) -> None:
    check_sizes(name, **sizes)
    if not isinstance(eval_fraction, (int, float)) or isinstance(eval_fraction, bool) or not 0 < eval_fraction < 1:
        raise benchhub.UserError(f"dataset {name}: eval_fraction must be a number in (0, 1), got {eval_fraction!r}")


def split_by_image(images: list[dict], eval_fraction: float, split_seed: int, max_train, max_eval) -> tuple:
    """Deterministic image-level split (all captions of an image stay on one side), then the caps."""
    order = list(range(len(images)))
    random.Random(f"benchhub-split/{split_seed}").shuffle(order)
    n_eval = max(1, round(eval_fraction * len(images))) if len(images) > 1 else 0
    held_out = [images[i] for i in order[:n_eval]]
    train = [images[i] for i in order[n_eval:]]
    return train[:max_train] if max_train else train, held_out[:max_eval] if max_eval else held_out


def to_splits(train_images, eval_images, info: dict, seed: int) -> Splits:
    """Images with caption lists -> training pairs (one caption per image, seeded) and evaluation refs."""
    rng = random.Random(f"captions/{seed}")
    train = [{"image": im["image"], "text": rng.choice(im["captions"])} for im in train_images]
    held_out = [{"image": im["image"], "references": im["captions"]} for im in eval_images]
    return Splits(train, held_out, {**info, "train": len(train), "eval": len(held_out)})


def _open(path: Path):
    from benchhub.fileio import open_image

    try:
        return open_image(path)
    except ValueError as exc:
        raise RunFailure(str(exc)) from None
    except OSError as exc:
        raise RunFailure(f"cannot read image {path}: {exc}") from None


def _as_captions(value) -> list[str]:
    captions = [value] if isinstance(value, str) else list(value or [])
    return [c for c in captions if isinstance(c, str) and c.strip()]


def _rows_to_images(rows, image_column: str, text_column: str) -> list[dict]:
    """One entry per distinct image with all its captions: rows of the same image never straddle a split."""
    import hashlib

    by_image: dict[str, dict] = {}
    for row in rows:
        if image_column not in row or text_column not in row:
            raise RunFailure(f"rows need columns '{image_column}' and '{text_column}'; found {sorted(row)}")
        captions = _as_captions(row[text_column])
        if not captions:
            continue
        image = row[image_column].convert("RGB")
        key = hashlib.sha1(image.tobytes() + repr(image.size).encode()).hexdigest()
        entry = by_image.setdefault(key, {"image": image, "captions": []})
        entry["captions"] += [c for c in captions if c not in entry["captions"]]
    return list(by_image.values())


class ImageFolder(benchhub.Dataset):
    """A local folder of images with metadata.jsonl/metadata.csv (`file_name`, caption column), via 🤗 datasets.

    Options:
        data_dir: the folder with the images and metadata.jsonl or metadata.csv
        text_column: the metadata column holding the caption
        eval_fraction: share of the images held out for evaluation
        split_seed: seed of the train/eval split
        max_train: at most this many training images
        max_eval: at most this many evaluation images
    """

    name = "imagefolder"
    task = "caption"
    depends_on = ("horizontal", "vertical", "rotation", "hue")  # captions of photos may say left, up, colours

    def __init__(self, data_dir: str = "", text_column: str = "text", eval_fraction: float = 0.2,
                 split_seed: int = 0, max_train: int | None = None, max_eval: int | None = None):
        if not data_dir:
            raise benchhub.UserError("dataset imagefolder needs data_dir = \"path/to/folder\"")
        _check_sizes(self.name, eval_fraction, max_train=max_train, max_eval=max_eval)
        self.data_dir, self.text_column, self.eval_fraction = data_dir, text_column, eval_fraction
        self.split_seed, self.max_train, self.max_eval = split_seed, max_train, max_eval

    def check(self) -> int:
        """Before anything runs: the folder, its metadata (file and line named, captions strings), no symlink
        out of it, every image decodable (cached by content)."""
        directory = Path(self.data_dir).expanduser()
        if not directory.is_dir():
            raise benchhub.UserError(f"imagefolder data_dir '{self.data_dir}' is not a directory")
        return imagefolder_rows(directory, self.text_column)

    def load(self, seed: int = 0) -> Splits:
        directory = Path(self.data_dir).expanduser()
        self.check()
        from datasets import load_dataset

        try:
            loaded = load_dataset("imagefolder", data_dir=str(directory))
        except Exception as exc:  # noqa: BLE001 - datasets raises many types; the message is what helps
            raise RunFailure(f"datasets could not load imagefolder '{self.data_dir}': "
                             f"{first_line(exc, with_type=False)}") from None
        rows = [row for split in loaded.values() for row in split]
        images = _rows_to_images(rows, "image", self.text_column)
        train, held_out = split_by_image(images, self.eval_fraction, self.split_seed, self.max_train,
                                         self.max_eval)
        if not train or not held_out:
            raise benchhub.UserError(f"imagefolder {directory}: {len(images)} captioned image(s); a training and a "
                                     "held-out split need at least 2")
        info = {"source": str(directory), "split": f"by image, {self.eval_fraction:.0%} held out, "
                                                   f"split_seed {self.split_seed}"}
        return to_splits(train, held_out, info, seed)


class CocoCaptions(benchhub.Dataset):
    """COCO-format captions: `annotations` is COCO's captions JSON or Karpathy's dataset_coco.json.

    Options:
        annotations: COCO's captions JSON or Karpathy's dataset_coco.json
        image_dir: folder the file names are relative to
        train_splits: Karpathy splits to train on (default: train and restval)
        eval_split: Karpathy split to evaluate on
        eval_fraction: COCO format: share of the images held out for evaluation
        split_seed: seed of the train/eval split
        max_train: at most this many training images
        max_eval: at most this many evaluation images
    """

    name = "coco-captions"
    task = "caption"
    depends_on = ("horizontal", "vertical", "rotation", "hue")  # captions of photos may say left, up, colours

    def __init__(self, annotations: str = "", image_dir: str = "", train_splits: list | None = None,
                 eval_split: str = "test", eval_fraction: float = 0.2, split_seed: int = 0,
                 max_train: int | None = None, max_eval: int | None = None):
        if not annotations or not image_dir:
            raise benchhub.UserError("dataset coco-captions needs annotations = \"captions.json\" and image_dir")
        _check_sizes(self.name, eval_fraction, max_train=max_train, max_eval=max_eval)
        if train_splits is not None and (not isinstance(train_splits, list)
                                         or not all(isinstance(s, str) for s in train_splits)):
            raise benchhub.UserError(f"dataset coco-captions: train_splits must be a list of split names, "
                                     f"e.g. [\"train\", \"restval\"], got {train_splits!r}")
        self.annotations, self.image_dir = annotations, image_dir
        self.train_splits = train_splits or ["train", "restval"]
        self.eval_split, self.eval_fraction, self.split_seed = eval_split, eval_fraction, split_seed
        self.max_train, self.max_eval = max_train, max_eval

    def check(self) -> int:
        """Before anything runs: the annotations parse, every entry is well formed and unique, every image
        path stays inside image_dir (the file and line of a bad entry are named), neither split is empty,
        and every image a run would read decodes (cached by content). Returns the number of those images."""
        train, held_out, _ = self._checked()
        return len(train) + len(held_out)

    def _checked(self) -> tuple[list, list, dict]:
        """The checked training and held-out images (exactly those load() opens) and the split's info."""
        path, root = Path(self.annotations).expanduser(), Path(self.image_dir).expanduser()
        if not path.is_file():
            raise benchhub.UserError(f"coco-captions annotations '{self.annotations}' is not a file")
        if not root.is_dir():
            raise benchhub.UserError(f"coco-captions image_dir '{self.image_dir}' is not a directory")
        data, text, raw = read_json(path, "coco-captions annotations")
        if isinstance(data, dict) and isinstance(data.get("images"), list) and data["images"] \
                and isinstance(data["images"][0], dict) and "sentences" in data["images"][0]:
            images = karpathy_images(data, text, path, root)
            train_splits = set(self.train_splits)
            train = [im for im in images if im["split"] in train_splits][:self.max_train or None]
            held_out = [im for im in images if im["split"] == self.eval_split][:self.max_eval or None]
            if not train or not held_out:
                counts = {}
                for im in images:
                    counts[im["split"]] = counts.get(im["split"], 0) + 1
                found = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
                which = (f"training split ({'+'.join(self.train_splits)})" if not train
                         else f"eval split ('{self.eval_split}')")
                raise benchhub.UserError(f"coco-captions {path}: the {which} has no captioned image (captioned "
                                         f"images by split: {found}); allowed: train_splits and eval_split naming "
                                         "splits with images")
            info = {"source": self.annotations, "format": "karpathy",
                    "split": f"Karpathy: train {'+'.join(self.train_splits)}, eval {self.eval_split}"}
        else:
            images = coco_images(data, text, path, root)
            train, held_out = split_by_image(images, self.eval_fraction, self.split_seed, self.max_train,
                                             self.max_eval)
            if not train or not held_out:
                raise benchhub.UserError(f"coco-captions {path}: {len(images)} captioned image(s); a training and "
                                         "a held-out split need at least 2")
            info = {"source": self.annotations, "format": "coco",
                    "split": f"by image, {self.eval_fraction:.0%} held out, split_seed {self.split_seed}"}
        check_images(root, [(path, raw)], [(im["path"], im["name"], im["where"]) for im in train + held_out])
        return train, held_out, info

    def load(self, seed: int = 0) -> Splits:
        train, held_out, info = self._checked()
        return to_splits(self._open_all(train), self._open_all(held_out), info, seed)

    @staticmethod
    def _open_all(images: list[dict]) -> list[dict]:
        return [{"image": _open(im["path"]), "captions": im["captions"]} for im in images]


class HubCaptions(benchhub.Dataset):
    """A 🤗 Hub dataset id (e.g. ybelkada/football-dataset) through datasets.load_dataset; needs the network
    or a local datasets cache.

    Options:
        id: the 🤗 Hub dataset id, e.g. ybelkada/football-dataset
        image_column: column holding the image
        text_column: column holding the caption
        eval_split: the dataset's split to evaluate on (default: carve eval_fraction from train)
        eval_fraction: share held out for evaluation when there is no eval split
        split_seed: seed of the train/eval split
        max_train: at most this many training images
        max_eval: at most this many evaluation images
    """

    name = "hub"
    task = "caption"
    depends_on = ("horizontal", "vertical", "rotation", "hue")  # captions of photos may say left, up, colours

    def __init__(self, id: str = "", image_column: str = "image", text_column: str = "text",
                 eval_split: str | None = None, eval_fraction: float = 0.2, split_seed: int = 0,
                 max_train: int | None = None, max_eval: int | None = None):
        if not id:
            raise benchhub.UserError("dataset hub needs id = \"owner/name\", e.g. ybelkada/football-dataset")
        _check_sizes(self.name, eval_fraction, max_train=max_train, max_eval=max_eval)
        self.id, self.image_column, self.text_column = id, image_column, text_column
        self.eval_split, self.eval_fraction, self.split_seed = eval_split, eval_fraction, split_seed
        self.max_train, self.max_eval = max_train, max_eval

    def _local(self) -> Path | None:
        """The folder when `id` names a local one (🤗 datasets would read it rather than ask the Hub)."""
        if any(ord(c) < 32 for c in self.id):
            raise benchhub.UserError(f"dataset hub: id {self.id!r} contains a control character; allowed: "
                                     "owner/name, or a folder read as an imagefolder")
        path = Path(self.id).expanduser()
        if path.is_dir():
            return path
        if path.exists():
            raise benchhub.UserError(f"dataset hub: id {self.id!r} is a local file, not a Hub id or a folder; "
                                     "allowed: owner/name, or a folder read as an imagefolder")
        return None

    def check(self) -> int | None:
        """A local folder as `id` is read as an imagefolder and checked as one (confined to the folder, its
        metadata and images checked); a Hub id is checked when a run loads it (that needs the network or the
        local datasets cache)."""
        directory = self._local()
        if directory is None:
            return None
        if self.image_column != "image":
            raise benchhub.UserError(f"dataset hub: id '{self.id}' is a local folder, read as an imagefolder "
                                     f"whose image column is 'image'; got image_column = {self.image_column!r}")
        return imagefolder_rows(directory, self.text_column)

    def load(self, seed: int = 0) -> Splits:
        from datasets import load_dataset

        directory = self._local()
        if directory is not None:
            self.check()
        try:  # a local folder as an imagefolder, not load_dataset(folder): its README could name files elsewhere
            loaded = load_dataset("imagefolder", data_dir=str(directory)) if directory else load_dataset(self.id)
        except Exception as exc:  # noqa: BLE001 - offline, missing, gated: all one line for the user
            if directory:
                raise RunFailure(f"datasets could not load the folder '{self.id}' as an imagefolder: "
                                 f"{first_line(exc, with_type=False)}") from None
            raise RunFailure(f"cannot load hub dataset '{self.id}': not in the local datasets cache and the Hub "
                             f"is unreachable or refused ({type(exc).__name__}){HUB_SETTINGS}") from None
        if self.eval_split and self.eval_split in loaded:
            train_rows = [r for name, split in loaded.items() if name != self.eval_split for r in split]
            train = _rows_to_images(train_rows, self.image_column, self.text_column)
            held_out = _rows_to_images(loaded[self.eval_split], self.image_column, self.text_column)
            train, held_out = train[:self.max_train or None], held_out[:self.max_eval or None]
            split = f"hub splits: eval '{self.eval_split}'"
        else:
            rows = [r for split in loaded.values() for r in split]
            images = _rows_to_images(rows, self.image_column, self.text_column)
            train, held_out = split_by_image(images, self.eval_fraction, self.split_seed, self.max_train,
                                             self.max_eval)
            split = f"by image, {self.eval_fraction:.0%} held out, split_seed {self.split_seed}"
        if not train or not held_out:
            raise benchhub.UserError(f"hub dataset '{self.id}': the {'training' if not train else 'held-out'} split "
                                     f"is empty ({len(train)} training, {len(held_out)} held-out images, distinct "
                                     "by pixels); a training and a held-out split need at least 1 image each")
        return to_splits(train, held_out, {"source": self.id, "split": split}, seed)


@benchhub.hookimpl
def register_datasets(register):
    for cls in (ImageFolder, CocoCaptions, HubCaptions):
        register(cls)
