"""BLIP-2 (Blip2ForConditionalGeneration) for captioning and VQA; `blip2:tiny` is pre-trained offline."""
from __future__ import annotations

from pathlib import Path

import benchhub
from benchhub.bundle import Bundle, roles
from benchhub.errors import RunFailure
from benchhub_plugins.models.loading import (SPECIAL, PixelCache, PresetModel, build_tokenizer, dataset, from_pretrained,
                                             pretrain, quantized)

# Every number that shapes the tiny checkpoint; the cache key is a hash of this recipe.
TINY_RECIPE = {
    "hidden": 128, "layers": 2, "heads": 4, "ffn": 256, "image_size": 32, "patch_size": 8,
    "num_query_tokens": 8, "vision_position_std": 0.5,
    "pretrain_images": 3000, "pretrain_steps": 1000, "pretrain_batch": 32, "pretrain_lr": 1e-3,
    "pretrain_vqa": False, "data": "shapes/source/v1",
}
REAL_PRESETS = {"opt-2.7b": "Salesforce/blip2-opt-2.7b", "opt-6.7b": "Salesforce/blip2-opt-6.7b"}
# what the tiny preset is pre-trained on (registered datasets, reached through the core)
PRETRAIN_DATA = {"caption": "shapes", "vqa": "shapes-vqa"}
def build_tiny(recipe: dict, seed: int = 0):
    """A freshly initialised tiny BLIP-2 and its processor (nothing downloaded)."""
    import torch
    from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, Blip2QFormerConfig,
                              Blip2VisionConfig, BlipImageProcessor, OPTConfig)

    task = "vqa" if recipe.get("pretrain_vqa", False) else "caption"
    tokenizer = build_tokenizer(dataset(PRETRAIN_DATA[task], domain="source").vocabulary())
    h, n, heads, ffn = recipe["hidden"], recipe["layers"], recipe["heads"], recipe["ffn"]
    image_token_id = tokenizer.convert_tokens_to_ids(SPECIAL["image"])
    vision = Blip2VisionConfig(hidden_size=h, intermediate_size=ffn, num_hidden_layers=n, num_attention_heads=heads,
                               image_size=recipe["image_size"], patch_size=recipe["patch_size"],
                               attention_dropout=0.0, initializer_range=0.02)
    qformer = Blip2QFormerConfig(hidden_size=h, num_hidden_layers=n, num_attention_heads=heads,
                                 intermediate_size=ffn, cross_attention_frequency=1, encoder_hidden_size=h,
                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                 vocab_size=len(tokenizer))
    text = OPTConfig(vocab_size=len(tokenizer), hidden_size=h, num_hidden_layers=n, ffn_dim=ffn,
                     num_attention_heads=heads, max_position_embeddings=64, word_embed_proj_dim=h,
                     dropout=0.0, attention_dropout=0.0, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     tie_word_embeddings=True)
    config = Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                         text_config=text.to_dict(), num_query_tokens=recipe["num_query_tokens"],
                         image_token_index=image_token_id, initializer_range=0.02)
    torch.manual_seed(seed)
    model = Blip2ForConditionalGeneration(config)
    # transformers' defaults do not learn at this size (NOTES): vision initializer_range 1e-10,
    # zero query tokens. Draw query tokens from N(0, 1) and wider vision position embeddings.
    with torch.no_grad():
        model.query_tokens.normal_(0.0, 1.0)
        model.vision_model.embeddings.position_embedding.normal_(0.0, recipe["vision_position_std"])
    size = recipe["image_size"]
    image_processor = BlipImageProcessor(size={"height": size, "width": size})
    processor = Blip2Processor(image_processor=image_processor, tokenizer=tokenizer,
                               num_query_tokens=recipe["num_query_tokens"])
    return model, processor


class Blip2Bundle(Bundle):
    """Blip2ForConditionalGeneration + its processor, with BLIP-2's module layout spelled out."""

    task = "caption"
    towers = ("language", "vision", "bridge")
    # q_proj/v_proj exist only in the OPT language model (NOTES); the vision MLP also has an fc2
    module_roles = {"language": roles(r".*language_model.*\.", "q_proj", "k_proj", "v_proj", "fc2"),
                    "vision": roles(r"vision_model\..*\.", "qkv", "qkv", "qkv", "fc2")}

    def __init__(self, model, processor, device, max_new_tokens: int = 16):
        super().__init__(model, device)
        self.processor = processor
        self.tokenizer = processor.tokenizer if processor is not None else None  # None: a meta-device plan
        self.max_new_tokens = max_new_tokens
        self.pixel_cache = PixelCache(processor.image_processor if processor is not None else None)
        self.image_token_id = model.config.image_token_index
        self.num_query_tokens = model.config.num_query_tokens
        # OPT's tokenizer adds BOS itself; the tiny word-level one does not
        probe = self.tokenizer("a").input_ids if self.tokenizer is not None else []
        self.bos_text = "" if not self.tokenizer or probe[:1] == [self.tokenizer.bos_token_id] \
            else f"{self.tokenizer.bos_token} "

    def _blocks(self, tower: str) -> list:
        base = self.base_model()
        if tower == "language":
            language = base.language_model
            return language.model.decoder.layers if hasattr(language, "model") else language.decoder.layers
        if tower == "vision":
            return base.vision_model.encoder.layers
        return base.qformer.encoder.layer

    def head(self):
        return self.base_model().get_output_embeddings()

    def set_head(self, module) -> None:
        base = self.base_model()
        base.config.text_config.tie_word_embeddings = False  # the new head is its own parameter
        base.config.tie_word_embeddings = False
        base.language_model.lm_head = module

    def components(self) -> dict:
        base = self.base_model()
        bridge = benchhub.module_group({"qformer": base.qformer, "language_projection": base.language_projection},
                                       {"query_tokens": base.query_tokens})
        return {"vision": base.vision_model, "bridge": bridge, "head": self.head(), "language": base.language_model}

    def _encode(self, examples: list[dict], texts: list[str], side: str = "right") -> dict:
        """What `Blip2Processor(images, text, padding=True)` returns: `num_query_tokens` image tokens, then
        the padded text; each image's pixels are computed once per run (`pixel_cache`)."""
        import torch

        self.tokenizer.padding_side = side
        text = self.tokenizer(texts, padding=True, return_token_type_ids=False)
        queries = self.processor.num_query_tokens or 0  # as the processor: none if it was built without them
        limit = self.base_model().config.text_config.max_position_embeddings - queries
        if side == "left":  # generation: the prompt's end, and room for the answer
            limit -= self.max_new_tokens
        ids, mask = text["input_ids"], text["attention_mask"]
        if side == "left":
            ids, mask = [r[::-1] for r in self.fit_tokens([r[::-1] for r in ids], limit, "prompts")], \
                [r[::-1] for r in self.fit_tokens([r[::-1] for r in mask], limit, "prompts")]
        else:
            ids, mask = self.fit_tokens(ids, limit, "captions"), self.fit_tokens(mask, limit, "captions")
        return {"input_ids": torch.tensor([[self.image_token_id] * queries + row for row in ids]),
                "attention_mask": torch.tensor([[1] * queries + row for row in mask]),
                "pixel_values": self.pixel_cache.stack([ex["image"] for ex in examples])}

    def _check_vocabulary(self, example: dict) -> None:
        prompt = example.get("prompt")
        if prompt and self.tokenizer.unk_token_id in self.tokenizer(prompt, add_special_tokens=False).input_ids:
            raise RunFailure(f"the tokenizer does not know the words of the prompt '{prompt}'; for blip2:tiny "
                             "set pretrain_vqa = true (a checkpoint pre-trained with the question vocabulary)")

    def _prompt(self, example: dict) -> str:
        """BOS, then the example's prompt (VQA: 'question : ... answer :'); captioning has none."""
        prompt = example.get("prompt", "")
        return f"{self.bos_text}{prompt}".strip() if prompt else self.bos_text.strip()

    def collate(self, examples: list[dict]) -> dict:
        """Image tokens + BOS + prompt + target + EOS; labels only on the target and EOS."""
        tok = self.tokenizer
        texts = [f"{self._prompt(ex)} {ex['text']}{tok.eos_token}".strip() for ex in examples]
        batch = self._encode(examples, texts)
        labels = batch["input_ids"].clone()
        labels[(labels == self.image_token_id) | (batch["attention_mask"] == 0)] = -100
        for row, ex in enumerate(examples):
            prompt_ids = tok(self._prompt(ex), add_special_tokens=not self.bos_text).input_ids if self._prompt(ex) \
                else []
            start = int((batch["input_ids"][row] == self.image_token_id).sum())
            labels[row, :start + max(1, len(prompt_ids))] = -100  # BOS and prompt are given, not predicted
        batch["labels"] = labels
        return batch

    def example_batch(self, micro_batch: int, text_tokens: int) -> dict:
        """A batch shaped like `collate`'s (image tokens + `text_tokens` text tokens) for `plan`."""
        import torch

        config = self.base_model().config
        size, queries = config.vision_config.image_size, config.num_query_tokens
        ids = torch.full((micro_batch, queries + text_tokens), 1, dtype=torch.long)
        ids[:, :queries] = config.image_token_index
        labels = ids.clone()
        labels[:, :queries + 1] = -100
        return {"pixel_values": torch.zeros(micro_batch, 3, size, size),
                "input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}

    def loss_sum(self, batch: dict):
        import torch.nn.functional as F

        out = self.model(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"],
                         attention_mask=batch["attention_mask"])
        logits = out.logits[:, -batch["labels"].shape[1]:, :]
        shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
        shift_labels = batch["labels"][:, 1:].reshape(-1)
        loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
        return loss, int((shift_labels != -100).sum())

    def predict(self, examples: list[dict], batch_size: int = 64) -> list[str]:
        import torch

        from benchhub.device import autocast, to_device

        out_texts = []
        self.model.eval()
        for i in range(0, len(examples), batch_size):
            chunk = examples[i:i + batch_size]
            prompts = [self._prompt(ex) for ex in chunk]
            inputs = to_device(self._encode(chunk, prompts, side="left"), self.device)
            with torch.no_grad(), autocast(self.device, self.precision):
                out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          num_beams=1, eos_token_id=self.tokenizer.eos_token_id,
                                          pad_token_id=self.tokenizer.pad_token_id)
            prompt = inputs["input_ids"]
            if out.shape[1] >= prompt.shape[1] and bool((out[:, :prompt.shape[1]] == prompt).all()):
                out = out[:, prompt.shape[1]:]  # generate echoed the image tokens + BOS
            out_texts += [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
        return out_texts

    def save(self, directory) -> None:
        self.model.save_pretrained(directory)
        self.processor.save_pretrained(directory)

    def check_image_conditioning(self, example: dict) -> float:
        """Max |logit difference| between a real and a blank image; refuses a model that ignores images."""
        self._check_vocabulary(example)
        import torch
        from PIL import Image

        blank = {**example, "image": Image.new("RGB", example["image"].size, (0, 0, 0))}
        self.model.eval()
        with torch.no_grad():
            a, b = (to_logits(self, self.collate([ex])) for ex in (example, blank))
        diff = float((a - b).abs().max())
        if not diff > 1e-6:
            raise RunFailure("image-conditioning check failed: the output does not change with the image "
                             "(are there num_query_tokens <image> tokens in input_ids?)")
        return diff


def to_logits(bundle, batch):
    from benchhub.device import to_device

    batch = to_device(batch, bundle.device)
    return bundle.model(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"],
                        attention_mask=batch["attention_mask"]).logits.float()


class Blip2(PresetModel):
    """BLIP-2 captioning and VQA. `tiny`: ~1 M parameters, pre-trained offline on the shapes source
    domain (captions and questions); `opt-2.7b` (Salesforce/blip2-opt-2.7b), other real presets, or any
    local directory / hub id holding a Blip2ForConditionalGeneration checkpoint.

    Options:
        preset: tiny, opt-2.7b, opt-6.7b, a local directory or a hub id (as blip2:PRESET)
        max_new_tokens: longest generated caption or answer
    """

    name = "blip2"
    tasks = ("caption", "vqa")
    presets = ("tiny", *REAL_PRESETS)
    cache_prefix, real_presets = "blip2-tiny", REAL_PRESETS

    def __init__(self, preset: str = "tiny", max_new_tokens: int = 16, **recipe):
        self._set_preset(preset, recipe, TINY_RECIPE, "max_new_tokens")
        self.max_new_tokens = max_new_tokens

    def _pretrain(self, directory: Path, log, progress) -> dict:
        import torch

        log("pre-training on the source domain (first use only)")
        model, processor = build_tiny(self.recipe, seed=0)
        bundle = Blip2Bundle(model, processor, torch.device("cpu"), self.max_new_tokens)
        tasks = ("caption", "vqa") if self.recipe["pretrain_vqa"] else ("caption",)
        examples = [ex for task in tasks
                    for ex in dataset(PRETRAIN_DATA[task], domain="source").pretraining(self.recipe["pretrain_images"])]
        return pretrain(bundle, examples, self.recipe, directory, progress)

    def meta_bundle(self) -> Blip2Bundle:
        """The model on the meta device (no weights) from its config: shipped for the real presets."""
        from transformers import AutoConfig, Blip2Config, Blip2ForConditionalGeneration

        from benchhub_plugins.models.loading import CONFIGS, meta_model

        if self.preset == "tiny":
            config = build_tiny(self.recipe)[0].config
        elif (CONFIGS / f"blip2-{self.preset}.json").is_file():
            config = Blip2Config.from_json_file(CONFIGS / f"blip2-{self.preset}.json")
        else:
            config = from_pretrained(AutoConfig, self.source())
        import torch

        return Blip2Bundle(meta_model(Blip2ForConditionalGeneration, config), None, torch.device("meta"))

    def build(self, device, seed: int = 0, quantization: str | None = None) -> Blip2Bundle:
        from transformers import Blip2ForConditionalGeneration, Blip2Processor

        self.prepare()
        source = self.source()
        # the output head stays unquantized (transformers' default skips it too)
        model = from_pretrained(Blip2ForConditionalGeneration, source, **quantized(quantization, device, ["lm_head"]))
        processor = from_pretrained(Blip2Processor, source)
        if getattr(processor, "num_query_tokens", None) is None:
            # Without it the processor adds no <image> tokens and BLIP-2 silently ignores the image (NOTES).
            processor.num_query_tokens = model.config.num_query_tokens
        if getattr(model.config, "use_decoder_only_language_model", True) is False:
            raise RunFailure(f"'{source}' is an encoder-decoder (T5) BLIP-2; benchhub supports decoder-only "
                             "(OPT) BLIP-2 checkpoints")
        if model.config.image_token_index is None:
            raise RunFailure(f"'{source}' has no image_token_index in its config; transformers 5 BLIP-2 needs it")
        return Blip2Bundle(model if quantization else model.to(device), processor, device, self.max_new_tokens)


@benchhub.hookimpl
def register_models(register):
    register(Blip2)
