"""`benchhub plan`: parameters and static memory of model × method pairs, on the meta device."""
from __future__ import annotations

from benchhub.errors import RunFailure

# bytes per parameter of a frozen base weight, by the method's quantization
BASE_BYTES = {None: 4.0, "int8": 1.0, "nf4": 0.5}


def plan_pair(model_plugin, method) -> dict:
    """Build the model on the meta device, apply the method, count parameters, estimate static memory.

    Static memory = base weights (fp32, int8 or nf4) + trainable weights, their fp32 gradients and
    AdamW's two fp32 moments. Activations are not included: this is a lower bound of the peak.
    """
    if not hasattr(model_plugin, "meta_bundle"):
        raise RunFailure(f"model '{model_plugin.name}' cannot be planned without weights (no meta_bundle)")
    bundle = model_plugin.meta_bundle()
    bundle.total_steps = 1000
    bundle = method.prepare(bundle) or bundle
    trainable, total = bundle.parameter_counts()
    frozen = total - trainable
    quantization = getattr(method, "quantization", None)
    weights = frozen * BASE_BYTES[quantization] + trainable * 4
    training = trainable * (4 + 8) if getattr(method, "trains", True) else 0
    return {"total": total, "trainable": trainable, "weights_bytes": int(weights),
            "gradients_and_optimizer_bytes": int(training), "static_bytes": int(weights + training)}
