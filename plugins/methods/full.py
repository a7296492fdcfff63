"""Full fine-tuning: every parameter trains."""
import benchhub


class Full(benchhub.Method):
    """Train every parameter of the model."""

    name = "full"
    default_lr = 2e-5  # small, as for full fine-tuning of large pre-trained models; suites override

    def prepare(self, bundle):
        bundle.model.requires_grad_(True)
        return bundle


@benchhub.hookimpl
def register_methods(register):
    register(Full)
