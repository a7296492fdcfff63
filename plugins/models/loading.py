"""Loading real checkpoints: safetensors only, no remote code, one clear line when offline."""
from __future__ import annotations

from pathlib import Path

import benchhub
from benchhub.errors import HUB_SETTINGS, RunFailure, first_line

SPECIAL = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>", "image": "<image>"}


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
            raise RunFailure(f"cannot load {cls.__name__} from '{source}': {first_line(exc, with_type=False)}") from None
        raise RunFailure(f"cannot load '{source}': it is not a local directory, not in the local Hugging Face "
                         f"cache, and the Hub is unreachable or does not have it{HUB_SETTINGS}") from None


def vit_layers(vit) -> list:
    """The transformer blocks of a (transformers) ViT model, whichever layout its version uses."""
    return list(vit.layers if hasattr(vit, "layers") else vit.encoder.layer)


def quantized(quantization: str | None, device, keep: list[str]) -> dict:
    """from_pretrained kwargs that load the base quantized (bitsandbytes), `keep` left unquantized."""
    if not quantization:
        return {}
    from benchhub.quantization import bnb_config, device_map

    return {"quantization_config": bnb_config(quantization, device, keep=keep), "device_map": device_map(device)}


def dataset(name: str, **options):
    """A registered dataset, through the core: model plugins never import dataset plugins."""
    from benchhub import plugins

    return plugins.registry().create("dataset", name, **options)


def build_tokenizer(corpus: list[str]):
    """Word-level tokenizer trained locally on a vocabulary corpus (NOTES: image token left unset)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = [SPECIAL[k] for k in ("pad", "bos", "eos", "unk", "image")]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1))
    # image_token is left unset on purpose: Blip2Processor adds it as an AddedToken (see NOTES).
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=SPECIAL["pad"], bos_token=SPECIAL["bos"],
                                   eos_token=SPECIAL["eos"], unk_token=SPECIAL["unk"])


# How tiny presets are pre-trained, beyond their recipe: part of the cache key, so a checkpoint made
# by another loop or thread count (float sums differ with either) is never mistaken for this one.
PRETRAINER = {"loop": "benchhub.train_loop, fused AdamW", "threads": 2}


def pretrain(bundle, examples: list, recipe: dict, directory, progress) -> dict:
    """Pre-train a tiny preset with the shared training loop (cosine, 5 % warm-up) and save it, on a fixed
    number of CPU threads so that every machine makes the same checkpoint."""
    import torch

    from benchhub.budget import Budget
    from benchhub.train import train_loop

    if bundle.device.type == "cpu":
        torch.set_num_threads(PRETRAINER["threads"])
    budget = Budget(effective_batch=recipe["pretrain_batch"], micro_batch=recipe["pretrain_batch"],
                    max_steps=recipe["pretrain_steps"], lr_schedule="cosine", warmup_ratio=0.05)
    stats = train_loop(bundle, examples, budget, recipe["pretrain_lr"], seed=0, progress=progress)
    bundle.save(directory)
    return {"recipe": recipe, "seconds": round(stats.seconds, 2), "final_loss": stats.final_loss}


def check_preset(model: str, preset: str, named: tuple) -> None:
    """A preset is a named one, an existing local directory, or a hub id (org/name, checked when loaded):
    anything else is refused before anything runs."""
    import re

    if preset in named:
        return
    if preset.startswith((".", "/", "~")) or Path(preset).expanduser().exists():
        if not Path(preset).expanduser().is_dir():
            raise benchhub.UserError(f"{model}: preset {preset!r} is not a directory")
        return
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", preset):
        from benchhub.errors import unknown_name

        raise benchhub.UserError(str(unknown_name(f"{model} preset", preset, list(named))) +
                                 "; or give a local directory or a hub id (org/name)")


MAX_RECIPE_INT = 10**6


def check_recipe(model: str, recipe: dict, defaults: dict) -> None:
    """Recipe options take their default's type: integers from 1 to MAX_RECIPE_INT, finite non-negative
    numbers, true/false, strings; widths divide into heads and images into patches (else building fails)."""
    import math

    for key, value in recipe.items():
        default = defaults[key]
        if isinstance(default, bool):
            ok, allowed = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RECIPE_INT
            allowed = f"an integer from 1 to {MAX_RECIPE_INT}"
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                and value >= 0
            allowed = "a finite number ≥ 0"
        else:
            ok, allowed = isinstance(value, str), "a string"
        if not ok:
            raise benchhub.UserError(f"{model}: option {key} must be {allowed}, got {value!r}")
    merged = {**defaults, **recipe}
    for whole, part in (("hidden", "heads"), ("image_size", "patch_size")):
        if whole in merged and part in merged and merged[whole] % merged[part]:
            raise benchhub.UserError(f"{model}: {whole} {merged[whole]} must be a multiple of {part} {merged[part]}")


class PresetModel(benchhub.Model):
    """Shared preset handling: `tiny` is pre-trained offline on first use and cached by recipe; other
    presets are real hub ids (`real_presets`) or a local directory / hub id given as the preset."""

    quantizations = ("nf4", "int8")
    cache_prefix = ""
    real_presets: dict = {}
    preset = "tiny"
    recipe: dict = {}

    @classmethod
    def extra_options(cls) -> list[tuple]:
        """The tiny preset's recipe (`benchhub models NAME`): each option shapes the cached checkpoint."""
        recipe = getattr(__import__(cls.__module__, fromlist=["TINY_RECIPE"]), "TINY_RECIPE", {})
        return [(key, None, value, "tiny preset recipe: changes the pre-trained checkpoint (cached by recipe)")
                for key, value in recipe.items()]

    def _set_preset(self, preset: str, recipe: dict, defaults: dict, other_options: str) -> None:
        """Validate recipe options (they shape the tiny preset only) and keep preset and recipe."""
        unknown = set(recipe) - set(defaults)
        if unknown:
            raise benchhub.UserError(f"{self.name} has no option {sorted(unknown)[0]!r}; options: preset, {other_options}, "
                                     f"{', '.join(defaults)}")
        check_preset(self.name, preset, ("tiny", *self.real_presets))
        if recipe and preset != "tiny":
            raise benchhub.UserError(f"{self.name}:{preset}: recipe options ({', '.join(sorted(recipe))}) apply to "
                                     "the tiny preset only")
        check_recipe(self.name, recipe, defaults)
        self.preset, self.recipe = preset, {**defaults, **recipe}

    def checkpoint_dir(self):
        from benchhub.checkpoints import keyed_dir

        return keyed_dir(self.cache_prefix, {**self.recipe, "pretrainer": PRETRAINER})

    def shipped_dir(self) -> Path:
        """Where the package ships this tiny recipe's pre-trained checkpoint (it may not: a recipe a user
        changed is pre-trained on first use and cached)."""
        return shipped_dir(self.cache_prefix, self.recipe)

    def shipped(self) -> dict | None:
        """The shipped checkpoint of this recipe (its checkpoint.json, with `sha256` of its files), or None."""
        return shipped_info(self.shipped_dir()) if self.preset == "tiny" else None

    def source(self) -> str:
        """The shipped or cached tiny checkpoint, a real preset's hub id, or the local path / hub id given."""
        if self.preset == "tiny":
            return str(self.shipped_dir() if self.shipped() else self.checkpoint_dir())
        return self.real_presets.get(self.preset, self.preset)

    def prepare(self, log=print, progress=None) -> dict | None:
        """A shipped tiny checkpoint is used as it is; another recipe is pre-trained once (in a child process
        before the runs) and cached."""
        if self.preset != "tiny":
            return None
        shipped = self.shipped()
        if shipped:
            return {**shipped, "checkpoint": str(self.shipped_dir()), "cached": True}
        from benchhub.checkpoints import cached_checkpoint

        return cached_checkpoint(self.checkpoint_dir(), lambda tmp: self._pretrain(tmp, log, progress),
                                 tops=[type(self).__module__.split(".")[0]])

    def checkpoint(self) -> dict:
        """The tiny checkpoint's key and the sha256 of its files (shipped: always; cached: when made here by
        today's code); a real preset's hub id or directory."""
        if self.preset != "tiny":
            return {"key": self.source()}
        shipped = self.shipped()
        if shipped:
            return {"key": f"shipped:{self.shipped_dir().name}", "sha256": shipped["sha256"]}
        from benchhub.checkpoints import current

        target = self.checkpoint_dir()
        found = current(target)
        return {"key": target.name, **({"sha256": found["sha256"]} if found else {})}

    def rebuild_shipped(self, log=print, progress=None) -> dict | None:
        """Pre-train this tiny recipe afresh into the package's shipped directory (`benchhub prepare --rebuild`);
        None for a real preset. Returns the new checkpoint.json, with `changed`: whether its files differ from
        those shipped before."""
        if self.preset != "tiny":
            return None
        return write_shipped(self.shipped_dir(), self.recipe, lambda tmp: self._pretrain(tmp, log, progress))

    def _pretrain(self, directory, log, progress) -> dict:
        raise NotImplementedError


CONFIGS = Path(__file__).parent / "configs"
SHIPPED = Path(__file__).parent / "shipped"  # pre-trained tiny checkpoints, one folder per recipe


def shipped_dir(prefix: str, recipe: dict) -> Path:
    """`shipped/<prefix>-<hash of the recipe and the pre-trainer>`: no library version or CPU in the key; a
    shipped checkpoint is the same bytes on every machine (its checkpoint.json records where it was made)."""
    import hashlib
    import json

    key = json.dumps({"recipe": recipe, "pretrainer": PRETRAINER}, sort_keys=True)
    return SHIPPED / f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


_SHIPPED_INFO: dict = {}


def shipped_info(directory: Path) -> dict | None:
    """A shipped checkpoint's checkpoint.json when its files still hash to what it records (once per process),
    else None (a damaged or partial copy is never used)."""
    import json

    from benchhub.identity import files_sha256

    if directory not in _SHIPPED_INFO:
        try:
            info = json.loads((directory / "checkpoint.json").read_text())
        except (OSError, ValueError):
            info = None
        if not isinstance(info, dict) or info.get("sha256") != files_sha256(directory):
            info = None
        _SHIPPED_INFO[directory] = info
    return _SHIPPED_INFO[directory]


def write_shipped(directory: Path, recipe: dict, make) -> dict:
    """Pre-train with `make(tmp)` and put the checkpoint at `directory` (written aside, then renamed), with a
    checkpoint.json saying what it is, how and where it was made, and the sha256 of its files."""
    import json
    import shutil

    from benchhub.identity import files_sha256, machine, version

    before = shipped_info(directory)
    tmp = directory.with_name(f"{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        info = make(tmp)
        info = {**info, "recipe": recipe, "pretrainer": PRETRAINER, "sha256": files_sha256(tmp),
                "made_with": {"cpu_capability": machine()["cpu_capability"], "torch": version("torch"),
                              "transformers": version("transformers"), "tokenizers": version("tokenizers")}}
        (tmp / "checkpoint.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _SHIPPED_INFO.pop(directory, None)
    return {**info, "changed": before is None or before["sha256"] != info["sha256"]}


def meta_model(model_cls, config):
    """The model built on the meta device: shapes and parameter counts, no memory, no weights."""
    import torch

    with torch.device("meta"):
        return model_cls(config)


class PixelCache:
    """Each image through the image processor once per run: training revisits the same images every
    epoch, and processing them again costs a sizeable share of a small model's step. Bounded: past
    `max_bytes` of cached pixels, images are processed each time as before."""

    def __init__(self, image_processor, max_bytes: int = 256 * 2**20):
        self.image_processor, self.max_bytes = image_processor, max_bytes
        self.cache: dict[int, tuple] = {}
        self.bytes = 0

    def pixels(self, image):
        hit = self.cache.get(id(image))
        if hit is not None and hit[0] is image:  # the same object (an id may be reused after one is freed)
            return hit[1]
        pixels = self.image_processor(image, return_tensors="pt")["pixel_values"][0]
        size = pixels.numel() * pixels.element_size()
        if self.bytes + size <= self.max_bytes:
            self.cache[id(image)] = (image, pixels)
            self.bytes += size
        return pixels

    def stack(self, images: list):
        import torch

        return torch.stack([self.pixels(image) for image in images])
