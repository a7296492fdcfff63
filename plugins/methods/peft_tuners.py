"""Every PEFT tuner by name (dora, ia3, vera, adalora, loha, lokr, oft) and any other as peft:<type>."""
from __future__ import annotations

import dataclasses

import benchhub
from benchhub.errors import RunFailure, UserError, first_line, unknown_name
from benchhub_plugins.methods.lora import check_targets, default_targets, trained_heads


def config_class(peft_type: str):
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    key = peft_type.upper().replace("-", "_")
    if key not in PEFT_TYPE_TO_CONFIG_MAPPING:
        raise unknown_name("peft type", peft_type.lower(), [str(k.value).lower() for k in PEFT_TYPE_TO_CONFIG_MAPPING])
    return PEFT_TYPE_TO_CONFIG_MAPPING[key]


# peft config fields benchhub sets itself, or that belong to the peft model rather than the method
IGNORED_FIELDS = {"peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode",
                  "auto_mapping", "peft_version"}


class PeftTuner(benchhub.Method):
    """Any PEFT tuner: `peft:<type>(option=value,...)` with the options of peft's <Type>Config.

    Options:
        type: the PEFT type for peft:<type> (fixed for the named tuners); every other option is a field of peft's
            <Type>Config
    """

    name = "peft"
    variant_option = "type"
    default_lr = 2e-4
    peft_type: str | None = None  # fixed by the named subclasses

    @classmethod
    def extra_options(cls) -> list[tuple]:
        """The fields of this tuner's peft config (`benchhub methods NAME`): name, type, default, help."""
        if not cls.peft_type:
            return []
        out = []
        for field in dataclasses.fields(config_class(cls.peft_type)):
            if field.name in IGNORED_FIELDS or not field.init:
                continue
            default = field.default if field.default is not dataclasses.MISSING else (
                field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
            text = " ".join(str(field.metadata.get("help", "")).split())
            out.append((field.name, None, default, text.split(". ")[0][:150]))
        return out

    def __init__(self, type: str | None = None, **options):
        self.type = self.peft_type or type
        if not self.type:
            raise UserError("peft: name a tuner type, e.g. peft:boft or peft:hra")
        fields = {f.name for f in dataclasses.fields(config_class(self.type))}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise UserError(f"{self.name}: peft {config_class(self.type).__name__} has no option '{unknown[0]}'")
        check_values(self.name, config_class(self.type), options)
        from peft import PromptLearningConfig

        if issubclass(config_class(self.type), PromptLearningConfig):  # known before any model is built
            raise UserError(f"{self.name}: {self.type.lower()} is a prompt-learning method; it needs a "
                            "task-specific PeftModel that BLIP-2-style multimodal models do not have (unsupported)")
        self.options = options

    def check(self, meta_bundle):
        """Options the user gave, checked at plan time on the model without weights: target_modules name
        modules of the model, and peft accepts the whole configuration."""
        if not self.options:
            return
        if self.options.get("target_modules"):
            check_targets(self.name, self.options["target_modules"], meta_bundle())
        try:
            self.config(meta_bundle())
        except RunFailure as exc:
            raise UserError(f"{self.name}: {exc}") from None

    def defaults(self, bundle) -> dict:
        return {}

    def targets(self, bundle):
        """Modules to adapt when target_modules is not given (the model's attention query and value)."""
        return default_targets(bundle)

    def config(self, bundle):
        cls = config_class(self.type)
        options = {**self.defaults(bundle), **self.options}
        fields = {f.name for f in dataclasses.fields(cls)}
        if "target_modules" in fields and not options.get("target_modules"):
            options["target_modules"] = self.targets(bundle)
        if "modules_to_save" in fields and trained_heads(bundle) and "modules_to_save" not in options:
            options["modules_to_save"] = trained_heads(bundle)
        try:
            config = cls(**options)
        except (TypeError, ValueError) as exc:
            raise RunFailure(f"peft {self.type}: invalid configuration: {exc}") from None
        if getattr(config, "is_prompt_learning", False):
            raise RunFailure(f"peft {self.type} is a prompt-learning method; it needs a task-specific "
                             "PeftModel that BLIP-2-style multimodal models do not have (unsupported here)")
        return config

    def prepare(self, bundle):
        from peft import get_peft_model

        config = self.config(bundle)
        try:
            bundle.model = get_peft_model(bundle.model, config)
        except (TypeError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise RunFailure(f"peft {self.type} cannot adapt this model: {first_line(exc, with_type=False)}") from None
        return bundle


def check_values(method: str, config_cls: type, options: dict) -> None:
    """Each option of the type peft's config declares; ranks and scales positive, dropouts in [0, 1)."""
    import typing

    from benchhub.spec import conforms, describe_type

    hints = typing.get_type_hints(config_cls)
    for key, value in options.items():
        if key in hints and not conforms(value, hints[key]):
            raise UserError(f"{method}: option {key} must be {describe_type(hints[key])}, got {value!r}")
        if key in ("r", "alpha", "lora_alpha", "init_r", "target_r") and isinstance(value, (int, float)) and value <= 0:
            raise UserError(f"{method}: {key} must be positive, got {value}")
        if key.endswith("dropout") and isinstance(value, (int, float)) and not 0 <= value < 1:
            raise UserError(f"{method}: {key} must be in [0, 1), got {value}")


class Dora(PeftTuner):
    """DoRA: weight-decomposed LoRA (LoraConfig(use_dora=True))."""

    name, peft_type = "dora", "lora"

    def defaults(self, bundle):
        return {"use_dora": True, "r": 8, "lora_alpha": 16}


class IA3(PeftTuner):
    """IA3: learned rescaling of keys, values and feed-forward activations."""

    name, peft_type, default_lr = "ia3", "ia3", 3e-3

    def targets(self, bundle):
        return bundle.modules("attention.key", "attention.value", "mlp.output")

    def defaults(self, bundle):
        return {"feedforward_modules": bundle.modules("mlp.output")}


class Vera(PeftTuner):
    """VeRA: shared frozen random low-rank matrices, trained scaling vectors."""

    name, peft_type, default_lr = "vera", "vera", 4e-3


class AdaLora(PeftTuner):
    """AdaLoRA: LoRA whose rank budget is re-allocated during training (update_and_allocate each step).

    Its orthogonality regulariser is not added: benchhub computes the token-weighted loss itself.
    """

    name, peft_type = "adalora", "adalora"

    def defaults(self, bundle):
        total = bundle.total_steps or 100
        return {"init_r": 12, "target_r": 8, "lora_alpha": 16, "total_step": total,
                "tinit": int(0.1 * total), "tfinal": int(0.2 * total), "deltaT": max(1, total // 20)}

    def after_optimizer_step(self, bundle, step: int, total_steps: int) -> None:
        bundle.model.base_model.update_and_allocate(step)


class LoHa(PeftTuner):
    """LoHa: low-rank Hadamard product adapters."""

    name, peft_type = "loha", "loha"

    def defaults(self, bundle):
        return {"r": 8, "alpha": 16}


class LoKr(PeftTuner):
    """LoKr: low-rank Kronecker product adapters."""

    name, peft_type = "lokr", "lokr"

    def defaults(self, bundle):
        return {"r": 8, "alpha": 16}


class Oft(PeftTuner):
    """OFT: orthogonal fine-tuning (block-diagonal orthogonal rotations)."""

    name, peft_type, default_lr = "oft", "oft", 1e-4

    def defaults(self, bundle):
        return {"oft_block_size": 32}


@benchhub.hookimpl
def register_methods(register):
    for cls in (PeftTuner, Dora, IA3, Vera, AdaLora, LoHa, LoKr, Oft):
        register(cls)
