"""ViT image classification (ViTForImageClassification); `vit:tiny` is pre-trained offline on digits 0–4."""
from __future__ import annotations

from pathlib import Path

import benchhub
from benchhub.bundle import Bundle, roles
from benchhub.errors import RunFailure
from benchhub_plugins.models.loading import PresetModel, dataset, from_pretrained, pretrain, quantized, vit_layers

TINY_RECIPE = {
    "hidden": 64, "layers": 4, "heads": 4, "ffn": 128, "image_size": 32, "patch_size": 4, "num_labels": 10,
    "pretrain_domain": "source", "pretrain_steps": 300, "pretrain_batch": 32, "pretrain_lr": 1e-3,
    "data": "sklearn-digits/v1",
}
REAL_PRESETS = {"base": "google/vit-base-patch16-224"}
PRETRAIN_DATA = "digits"  # what the tiny preset is pre-trained on (a registered dataset)


class VitBundle(Bundle):
    """ViTForImageClassification + its image processor."""

    task = "classify"
    towers = ("vision",)
    output_tower = "vision"
    module_roles = {"vision": roles(r".*\.", "q_proj", "k_proj", "v_proj", "fc2")}
    labelled_head = True  # the classifier maps to the task's labels (a new label set needs it trained)

    def __init__(self, model, image_processor, device):
        super().__init__(model, device)
        self.image_processor = image_processor

    def _blocks(self, tower: str) -> list:
        return vit_layers(self.base_model().vit)

    def head(self):
        return self.base_model().classifier

    def set_head(self, module) -> None:
        self.base_model().classifier = module

    def components(self) -> dict:
        base = self.base_model()
        return {"vision": base.vit, "head": base.classifier}

    def _pixels(self, examples):
        return self.image_processor(images=[ex["image"] for ex in examples], return_tensors="pt")["pixel_values"]

    def collate(self, examples: list[dict]) -> dict:
        import torch

        labels = torch.tensor([ex["label"] for ex in examples])
        outputs = self.head().out_features if hasattr(self.head(), "out_features") else None
        if outputs is not None and int(labels.max()) >= outputs:
            raise RunFailure(f"label {int(labels.max())} but the classifier has {outputs} outputs; "
                             f"set the model's num_labels to at least {int(labels.max()) + 1}")
        return {"pixel_values": self._pixels(examples), "labels": labels}

    def example_batch(self, micro_batch: int, text_tokens: int) -> dict:
        """A batch shaped like `collate`'s for `plan` (text_tokens is unused: no text)."""
        import torch

        config = self.base_model().config
        size = config.image_size
        return {"pixel_values": torch.zeros(micro_batch, config.num_channels, size, size),
                "labels": torch.zeros(micro_batch, dtype=torch.long)}

    def loss_sum(self, batch: dict):
        import torch.nn.functional as F

        logits = self.model(pixel_values=batch["pixel_values"]).logits.float()
        return F.cross_entropy(logits, batch["labels"], reduction="sum"), int(batch["labels"].numel())

    def predict(self, examples: list[dict], batch_size: int = 64) -> list[str]:
        import torch

        from benchhub.device import autocast

        self.model.eval()
        out = []
        for i in range(0, len(examples), batch_size):
            pixels = self._pixels(examples[i:i + batch_size]).to(self.device)
            with torch.no_grad(), autocast(self.device, self.precision):
                out += [str(int(k)) for k in self.model(pixel_values=pixels).logits.argmax(-1)]
        return out

    def save(self, directory) -> None:
        self.model.save_pretrained(directory)
        self.image_processor.save_pretrained(directory)

    def check_image_conditioning(self, example: dict) -> float:
        import torch
        from PIL import Image

        blank = Image.new("RGB", example["image"].size, (0, 0, 0))
        self.model.eval()
        with torch.no_grad():
            a, b = (self.model(pixel_values=self._pixels([{"image": im}]).to(self.device)).logits
                    for im in (example["image"], blank))
        diff = float((a - b).abs().max())
        if not diff > 1e-6:
            raise RunFailure("image-conditioning check failed: the logits do not change with the image")
        return diff


def build_tiny(recipe: dict, seed: int = 0):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(hidden_size=recipe["hidden"], num_hidden_layers=recipe["layers"],
                       num_attention_heads=recipe["heads"], intermediate_size=recipe["ffn"],
                       image_size=recipe["image_size"], patch_size=recipe["patch_size"],
                       num_labels=recipe["num_labels"], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    size = recipe["image_size"]
    return ViTForImageClassification(config), ViTImageProcessor(size={"height": size, "width": size})


class Vit(PresetModel):
    """ViT classification. `tiny`: pre-trained on digits 0–4; `base`: google/vit-base-patch16-224;
    or any local directory / hub id holding a ViTForImageClassification checkpoint.

    Options:
        preset: tiny, base, a local directory or a hub id (as vit:PRESET)
        num_labels: a new classifier with this many labels (default: the checkpoint's)
    """

    name = "vit"
    tasks = ("classify",)
    presets = ("tiny", *REAL_PRESETS)
    cache_prefix, real_presets = "vit-tiny", REAL_PRESETS

    def __init__(self, preset: str = "tiny", num_labels: int | None = None, **recipe):
        self._set_preset(preset, recipe, TINY_RECIPE, "num_labels")
        self.num_labels = num_labels

    def _pretrain(self, directory: Path, log, progress) -> dict:
        import torch

        log(f"pre-training on digits ({self.recipe['pretrain_domain']} domain, first use only)")
        model, processor = build_tiny(self.recipe)
        bundle = VitBundle(model, processor, torch.device("cpu"))
        examples = dataset(PRETRAIN_DATA, domain=self.recipe["pretrain_domain"]).pretraining()
        return pretrain(bundle, examples, self.recipe, directory, progress)

    def meta_bundle(self) -> VitBundle:
        """The model on the meta device (no weights) from its config: shipped for `base`."""
        import torch
        from transformers import AutoConfig, ViTConfig, ViTForImageClassification

        from benchhub_plugins.models.loading import CONFIGS, meta_model

        if self.preset == "tiny":
            config = build_tiny(self.recipe)[0].config
        elif self.preset == "base":
            config = ViTConfig.from_json_file(CONFIGS / "vit-base-patch16-224.json")
        else:
            config = from_pretrained(AutoConfig, self.source())
        if self.num_labels:
            config.num_labels = self.num_labels
        return VitBundle(meta_model(ViTForImageClassification, config), None, torch.device("meta"))

    def build(self, device, seed: int = 0, quantization: str | None = None) -> VitBundle:
        from transformers import ViTForImageClassification, ViTImageProcessor

        self.prepare()
        kwargs = quantized(quantization, device, ["classifier"])
        if self.num_labels:
            kwargs.update(num_labels=self.num_labels, ignore_mismatched_sizes=True)
        model = from_pretrained(ViTForImageClassification, self.source(), **kwargs)
        processor = from_pretrained(ViTImageProcessor, self.source())
        return VitBundle(model if quantization else model.to(device), processor, device)


@benchhub.hookimpl
def register_models(register):
    register(Vit)
