"""QLoRA (4-bit nf4 base + LoRA) and LoRA on an 8-bit base, through bitsandbytes."""
import benchhub
from benchhub_plugins.methods.lora import Lora


class QLora(Lora):
    """LoRA on a 4-bit NF4-quantized base model (QLoRA), via bitsandbytes."""

    name = "qlora"
    quantization = "nf4"

    def prepare(self, bundle):
        from peft import prepare_model_for_kbit_training

        bundle.model = prepare_model_for_kbit_training(bundle.model, use_gradient_checkpointing=False)
        return super().prepare(bundle)


class LoraInt8(QLora):
    """LoRA on an 8-bit (LLM.int8) base model: the seed's BLIP-2 recipe (r=16, alpha=32, dropout 0.05)."""

    name = "lora-int8"
    quantization = "int8"

    def __init__(self, r: int = 16, alpha: int | float = 32, dropout: float = 0.05,
                 target_modules: list[str] | str | None = None, bias: str = "none"):
        super().__init__(r=r, alpha=alpha, dropout=dropout, target_modules=target_modules, bias=bias)


@benchhub.hookimpl
def register_methods(register):
    register(QLora)
    register(LoraInt8)
