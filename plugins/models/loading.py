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
            raise benchhub.UserError(f"{self.name} has no option {sorted(unknown)[0]!r}; options: {other_options}, "
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

    def source(self) -> str:
        """The cached tiny checkpoint, a real preset's hub id, or the local path / hub id given."""
        if self.preset == "tiny":
            return str(self.checkpoint_dir())
        return self.real_presets.get(self.preset, self.preset)

    def prepare(self, log=print, progress=None) -> dict | None:
        """Pre-train the tiny checkpoint once (in a child process before the runs); later calls reuse it."""
        if self.preset != "tiny":
            return None
        from benchhub.checkpoints import cached_checkpoint

        return cached_checkpoint(self.checkpoint_dir(), lambda tmp: self._pretrain(tmp, log, progress),
                                 tops=[type(self).__module__.split(".")[0]])

    def checkpoint(self) -> dict:
        """The tiny checkpoint's cache key (and the sha256 of its files when made here by today's code); a real
        preset's hub id or directory."""
        if self.preset != "tiny":
            return {"key": self.source()}
        from benchhub.checkpoints import current

        target = self.checkpoint_dir()
        found = current(target)
        return {"key": target.name, **({"sha256": found["sha256"]} if found else {})}

    def _pretrain(self, directory, log, progress) -> dict:
        raise NotImplementedError


CONFIGS = Path(__file__).parent / "configs"


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
