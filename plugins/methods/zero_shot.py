"""Zero-shot baseline: the pre-trained model evaluated without any training."""
import benchhub


class ZeroShot(benchhub.Method):
    """Evaluate the pre-trained model as it is (the baseline row)."""

    name = "zero-shot"
    default_lr = 0.0
    trains = False

    def prepare(self, bundle):
        bundle.model.requires_grad_(False)
        return bundle


@benchhub.hookimpl
def register_methods(register):
    register(ZeroShot)
