"""Self-checks every run passes before it trains: the image matters, promises hold, accumulation is exact."""
from __future__ import annotations

from benchhub.errors import RunFailure
from benchhub.train import ACCUMULATION_TOLERANCE, accumulation_error


def check_image_conditioning(bundle, splits, checks: dict) -> None:
    """The model's output must change with the image (the bundle raises RunFailure when it does not)."""
    if splits.train:
        change = bundle.check_image_conditioning(splits.train[0])
        if change is not None:
            checks["image_conditioning_logit_change"] = change


def check_promises(method, bundle, label: str) -> None:
    """A method that says it freezes a component must leave nothing in it trainable, and must train something."""
    manifest = bundle.manifest()
    for component in method.freezes:
        trainable = manifest.get(component, {}).get("trainable", 0)
        if trainable:
            raise RunFailure(f"method '{label}' claims to freeze '{component}' but leaves {trainable:,} "
                             f"of its parameters trainable")
    if method.trains and bundle.parameter_counts()[0] == 0:
        raise RunFailure(f"method '{label}' left no trainable parameters")


def check_accumulation(bundle, examples: list, checks: dict) -> None:
    """k micro-batches must give the gradient of one batch (relative error ≤ 1e-5, float32)."""
    error = accumulation_error(bundle, examples)
    checks["accumulation_rel_error"] = error
    if not error <= ACCUMULATION_TOLERANCE:
        raise RunFailure(f"accumulation check failed: {min(4, len(examples))} micro-batches give gradients "
                         f"{error:.2e} (relative) away from one batch (tolerance {ACCUMULATION_TOLERANCE:g}); "
                         "not ranked")
