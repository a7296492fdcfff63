"""bitsandbytes quantization configs that methods ask model plugins to load with."""
from __future__ import annotations

from benchhub.errors import RunFailure

KINDS = ("nf4", "int8")


def bnb_config(kind: str, device, keep: list[str] | None = None):
    """transformers' BitsAndBytesConfig for 'nf4' (QLoRA) or 'int8'; bf16 compute on CUDA, fp32 on CPU.

    `keep` names modules left unquantized (e.g. a classifier that must stay trainable).
    """
    import torch

    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise RunFailure(f"quantization '{kind}' needs bitsandbytes: pip install bitsandbytes ({exc})") from None
    if kind == "nf4":
        from benchhub.device import bf16_supported

        compute = torch.bfloat16 if device.type == "cuda" and bf16_supported() else torch.float32
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=keep)
    if kind == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=keep)
    raise RunFailure(f"unknown quantization '{kind}'; available: {', '.join(KINDS)}")


def device_map(device) -> dict:
    """Where from_pretrained places a quantized model: everything on the run's device."""
    return {"": device.index if device.type == "cuda" and device.index is not None else str(device)}


def keep_trainable(model) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference on a no-grad forward.

    bitsandbytes 0.50 repacks a Linear4bit's weight in place the first time it runs in eval mode
    without grad on an AVX512-BF16 CPU; a later backward through it then fails ("a view of a leaf
    Variable ... in-place operation"). The image-conditioning check is such a forward.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
