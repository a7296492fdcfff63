"""LoRA through peft: low-rank adapters on the model plugin's target modules."""
import benchhub


class Lora(benchhub.Method):
    """Low-rank adapters (peft LoraConfig); the base model stays frozen.

    Options:
        r: rank of the adapter matrices
        alpha: scaling numerator (updates are scaled by alpha / r)
        dropout: dropout on the adapter's input, in [0, 1)
        target_modules: modules to adapt: a list of name ends, a regular expression over full names, or all-linear
            (default: the model's attention query and value)
        bias: which biases train: none, all or lora_only
    """

    name = "lora"
    default_lr = 2e-4

    def __init__(self, r: int = 8, alpha: int | float = 16, dropout: float = 0.05,
                 target_modules: list[str] | str | None = None, bias: str = "none"):
        if r <= 0:
            raise benchhub.UserError(f"{self.name}: r must be a positive integer, got {r}")
        if alpha <= 0:
            raise benchhub.UserError(f"{self.name}: alpha must be positive, got {alpha}")
        if not 0 <= dropout < 1:
            raise benchhub.UserError(f"{self.name}: dropout must be in [0, 1), got {dropout}")
        if bias not in BIASES:
            raise benchhub.UserError(f"{self.name}: bias must be one of {', '.join(BIASES)}, got {bias!r}")
        self.r, self.alpha, self.dropout, self.target_modules, self.bias = r, alpha, dropout, target_modules, bias

    def check(self, meta_bundle):
        """target_modules must name modules of the model (checked at plan time, on the model without weights)."""
        if self.target_modules:
            check_targets(self.name, self.target_modules, meta_bundle())

    def prepare(self, bundle):
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, bias=self.bias,
                            target_modules=self.target_modules or default_targets(bundle),
                            modules_to_save=trained_heads(bundle))
        bundle.model = get_peft_model(bundle.model, config)
        return bundle


BIASES = ("none", "all", "lora_only")


def check_targets(method: str, targets, bundle) -> None:
    """PEFT's matching: a string is a regular expression over full module names, a list names modules by
    their last name parts ('q_proj' matches 'model.layers.0.self_attn.q_proj')."""
    import re

    if targets == "all-linear":  # PEFT's own: every linear layer but the output one
        return
    modules = dict(bundle.base_model().named_modules())
    names = [name for name in modules if name]
    if isinstance(targets, str):
        try:
            found = any(re.fullmatch(targets, n) for n in names)
        except re.error as exc:
            raise benchhub.UserError(f"{method}: target_modules {targets!r} is not a regular expression: {exc}") \
                from None
        missing = [] if found else [targets]
        hint = "; a string is a regular expression over full module names (a list matches by name ends)"
    else:
        hint = ""
        missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing:
        layers = sorted({n.rsplit(".", 1)[-1] for n in names if type(modules[n]).__name__ in ("Linear", "Conv2d")})
        raise benchhub.UserError(f"{method}: target_modules {missing[0]!r} matches no module of "
                                 f"{type(bundle).__name__}{hint}; its linear layers end in: {', '.join(layers)}")


def default_targets(bundle) -> list[str]:
    """Where adapters go unless the user says: the output tower's attention query and value projections."""
    return bundle.modules("attention.query", "attention.value")


def trained_heads(bundle) -> list[str] | None:
    """A head that outputs the task's labels trains in full beside the adapters (PEFT modules_to_save)."""
    return [bundle.module_name(bundle.head())] if bundle.labelled_head else None


@benchhub.hookimpl
def register_methods(register):
    register(Lora)
