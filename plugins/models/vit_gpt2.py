"""ViT encoder + GPT-2 decoder captioning (VisionEncoderDecoderModel); `vit-gpt2:tiny` pre-trained offline."""
from __future__ import annotations

from pathlib import Path

import benchhub
from benchhub.bundle import Bundle, roles
from benchhub.errors import RunFailure
from benchhub_plugins.models.loading import (PresetModel, build_tokenizer, dataset, from_pretrained, pretrain,
                                             quantized, vit_layers)

TINY_RECIPE = {
    "hidden": 128, "encoder_layers": 2, "decoder_layers": 2, "heads": 4, "image_size": 32, "patch_size": 8,
    "pretrain_images": 3000, "pretrain_steps": 1000, "pretrain_batch": 32, "pretrain_lr": 1e-3,
    "data": "shapes/source/v1",
}
REAL_PRESETS = {"nlpconnect": "nlpconnect/vit-gpt2-image-captioning"}
FUSED_QKV = r"attn\.c_attn"  # GPT-2's self-attention computes query, key and value in one projection
PRETRAIN_DATA = "shapes"  # what the tiny preset is pre-trained on (a registered dataset)


class VitGpt2Bundle(Bundle):
    """VisionEncoderDecoderModel (ViT → GPT-2 with cross-attention), image processor and tokenizer."""

    task = "caption"
    towers = ("language", "vision")
    module_roles = {"language": roles(r".*decoder.*\.", FUSED_QKV, FUSED_QKV, FUSED_QKV, r"mlp\.c_proj"),
                    "vision": roles(r"encoder\..*\.", "q_proj", "k_proj", "v_proj", "fc2")}

    def __init__(self, model, image_processor, tokenizer, device, max_new_tokens: int = 16):
        super().__init__(model, device)
        self.image_processor, self.tokenizer, self.max_new_tokens = image_processor, tokenizer, max_new_tokens

    def _blocks(self, tower: str) -> list:
        base = self.base_model()
        return base.decoder.transformer.h if tower == "language" else vit_layers(base.encoder)

    def head(self):
        return self.base_model().decoder.get_output_embeddings()

    def set_head(self, module) -> None:
        base = self.base_model()
        base.decoder.config.tie_word_embeddings = False
        base.decoder.lm_head = module

    def components(self) -> dict:
        base = self.base_model()
        return {"vision": base.encoder, "head": self.head(), "language": base.decoder}

    def _pixels(self, examples):
        return self.image_processor(images=[ex["image"] for ex in examples], return_tensors="pt")["pixel_values"]

    def collate(self, examples: list[dict]) -> dict:
        tok = self.tokenizer
        tok.padding_side = "right"
        import torch

        encoded = tok([f"{ex['text']}{tok.eos_token}" for ex in examples], padding=True, add_special_tokens=False)
        limit = self.base_model().config.decoder.n_positions
        ids = torch.tensor(self.fit_tokens(encoded["input_ids"], limit, "captions"))
        mask = torch.tensor(self.fit_tokens(encoded["attention_mask"], limit, "captions"))
        labels = ids.masked_fill(mask == 0, -100)
        return {"pixel_values": self._pixels(examples), "labels": labels}

    def example_batch(self, micro_batch: int, text_tokens: int) -> dict:
        """A batch shaped like `collate`'s (`text_tokens` caption tokens) for `plan`."""
        import torch

        encoder = self.base_model().config.encoder
        size = encoder.image_size
        return {"pixel_values": torch.zeros(micro_batch, encoder.num_channels, size, size),
                "labels": torch.ones(micro_batch, text_tokens, dtype=torch.long)}

    def loss_sum(self, batch: dict):
        import torch.nn.functional as F

        # labels are shifted right into decoder inputs by the model: logits[t] predicts labels[t]
        logits = self.model(pixel_values=batch["pixel_values"], labels=batch["labels"]).logits.float()
        labels = batch["labels"].reshape(-1)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels, ignore_index=-100, reduction="sum")
        return loss, int((labels != -100).sum())

    def predict(self, examples: list[dict], batch_size: int = 64) -> list[str]:
        import torch

        from benchhub.device import autocast

        self.model.eval()
        config = self.base_model().config
        out = []
        for i in range(0, len(examples), batch_size):
            pixels = self._pixels(examples[i:i + batch_size]).to(self.device)
            with torch.no_grad(), autocast(self.device, self.precision):
                ids = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          num_beams=1, decoder_start_token_id=config.decoder_start_token_id,
                                          eos_token_id=self.tokenizer.eos_token_id,
                                          pad_token_id=config.pad_token_id)
            out += [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
        return out

    def save(self, directory) -> None:
        self.model.save_pretrained(directory)
        self.image_processor.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def check_image_conditioning(self, example: dict) -> float:
        import torch
        from PIL import Image

        batch = self.collate([example, {**example, "image": Image.new("RGB", example["image"].size, (0, 0, 0))}])
        self.model.eval()
        with torch.no_grad():
            logits = self.model(pixel_values=batch["pixel_values"].to(self.device),
                                labels=batch["labels"].to(self.device)).logits
        diff = float((logits[0] - logits[1]).abs().max())
        if not diff > 1e-6:
            raise RunFailure("image-conditioning check failed: the decoder ignores the image")
        return diff


def build_tiny(recipe: dict, seed: int = 0):
    import torch
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig, \
        ViTImageProcessor

    tokenizer = build_tokenizer(dataset(PRETRAIN_DATA, domain="source").vocabulary())
    h = recipe["hidden"]
    encoder = ViTConfig(hidden_size=h, num_hidden_layers=recipe["encoder_layers"], num_attention_heads=recipe["heads"],
                        intermediate_size=2 * h, image_size=recipe["image_size"], patch_size=recipe["patch_size"],
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    decoder = GPT2Config(vocab_size=len(tokenizer), n_embd=h, n_layer=recipe["decoder_layers"],
                         n_head=recipe["heads"], n_positions=64, add_cross_attention=True, is_decoder=True,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    # VisionEncoderDecoderModel needs these by hand (NOTES)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(seed)
    size = recipe["image_size"]
    return VisionEncoderDecoderModel(config), ViTImageProcessor(size={"height": size, "width": size}), tokenizer


class VitGpt2(PresetModel):
    """ViT + GPT-2 captioning. `tiny`: pre-trained offline on shapes source captions; `nlpconnect`
    (nlpconnect/vit-gpt2-image-captioning), or any local directory / hub id of a VisionEncoderDecoderModel.

    Options:
        preset: tiny, nlpconnect, a local directory or a hub id (as vit-gpt2:PRESET)
        max_new_tokens: longest generated caption
    """

    name = "vit-gpt2"
    tasks = ("caption",)
    presets = ("tiny", *REAL_PRESETS)
    cache_prefix, real_presets = "vit-gpt2-tiny", REAL_PRESETS

    def __init__(self, preset: str = "tiny", max_new_tokens: int = 16, **recipe):
        self._set_preset(preset, recipe, TINY_RECIPE, "max_new_tokens")
        self.max_new_tokens = max_new_tokens

    def _pretrain(self, directory: Path, log, progress) -> dict:
        import torch

        log("pre-training on the source domain (first use only)")
        model, image_processor, tokenizer = build_tiny(self.recipe)
        bundle = VitGpt2Bundle(model, image_processor, tokenizer, torch.device("cpu"), self.max_new_tokens)
        examples = dataset(PRETRAIN_DATA, domain="source").pretraining(self.recipe["pretrain_images"])
        return pretrain(bundle, examples, self.recipe, directory, progress)

    def meta_bundle(self) -> VitGpt2Bundle:
        """The model on the meta device (no weights) from its config (a local copy for real presets)."""
        import torch
        from transformers import AutoConfig, VisionEncoderDecoderModel

        from benchhub_plugins.models.loading import meta_model

        config = build_tiny(self.recipe)[0].config if self.preset == "tiny" else from_pretrained(AutoConfig,
                                                                                                   self.source())
        return VitGpt2Bundle(meta_model(VisionEncoderDecoderModel, config), None, None, torch.device("meta"))

    def build(self, device, seed: int = 0, quantization: str | None = None) -> VitGpt2Bundle:
        from transformers import AutoTokenizer, VisionEncoderDecoderModel, ViTImageProcessor

        self.prepare()
        source = self.source()
        model = from_pretrained(VisionEncoderDecoderModel, source, **quantized(quantization, device, ["lm_head"]))
        image_processor = from_pretrained(ViTImageProcessor, source)
        tokenizer = from_pretrained(AutoTokenizer, source)
        if tokenizer.pad_token is None:  # GPT-2's tokenizer has none: pad with EOS (masked out of the loss)
            tokenizer.pad_token = tokenizer.eos_token
        if getattr(model.config, "decoder_start_token_id", None) is None:
            model.config.decoder_start_token_id = tokenizer.bos_token_id
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return VitGpt2Bundle(model if quantization else model.to(device), image_processor, tokenizer, device,
                             self.max_new_tokens)


@benchhub.hookimpl
def register_models(register):
    register(VitGpt2)
