"""LoRA through peft: low-rank adapters on the model plugin's target modules."""
import benchhub


class Lora(benchhub.Method):
    """Low-rank adapters (peft LoraConfig); the base model stays frozen."""

    name = "lora"
    default_lr = 2e-4

    def __init__(self, r: int = 8, alpha: int = 16, dropout: float = 0.05, target_modules=None,
                 bias: str = "none"):
        if not isinstance(r, int) or r <= 0:
            raise benchhub.UserError(f"lora: r must be a positive integer, got {r!r}")
        self.r, self.alpha, self.dropout, self.target_modules, self.bias = r, alpha, dropout, target_modules, bias

    def prepare(self, bundle):
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, bias=self.bias,
                            target_modules=self.target_modules or default_targets(bundle),
                            modules_to_save=trained_heads(bundle))
        bundle.model = get_peft_model(bundle.model, config)
        return bundle


def default_targets(bundle) -> list[str]:
    """Where adapters go unless the user says: the output tower's attention query and value projections."""
    return bundle.modules("attention.query", "attention.value")


def trained_heads(bundle) -> list[str] | None:
    """A head that outputs the task's labels trains in full beside the adapters (PEFT modules_to_save)."""
    return [bundle.module_name(bundle.head())] if bundle.labelled_head else None


@benchhub.hookimpl
def register_methods(register):
    register(Lora)
