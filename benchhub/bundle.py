"""What a model plugin hands to methods and to the training loop: the model and a description of it.

A bundle describes the model (its towers and blocks, which module plays which role, its head,
how to turn examples into batches); it never carries a particular method's options. Methods
derive their targets from this description.
"""
from __future__ import annotations

import re

from benchhub.errors import RunFailure

ROLES = ("attention.query", "attention.key", "attention.value", "mlp.output")


def roles(prefix: str, query: str, key: str, value: str, mlp_output: str) -> dict:
    """A tower's `module_roles` entry: regexes `prefix + name` for each role (a fused projection may repeat)."""
    names = {"attention.query": query, "attention.key": key, "attention.value": value, "mlp.output": mlp_output}
    return {role: prefix + name for role, name in names.items()}


def module_group(modules: dict | None = None, parameters: dict | None = None):
    """Several modules and loose parameters (e.g. BLIP-2's query tokens) as one torch module."""
    import torch

    group = torch.nn.Module()
    for name, module in (modules or {}).items():
        group.add_module(name, module)
    for name, param in (parameters or {}).items():
        group.register_parameter(name, param)
    return group


class Bundle:
    """A built model plus the model knowledge methods need. Model plugins subclass it.

    Methods may replace `model` (e.g. with a PEFT wrapper); every access point keeps working on
    the replaced model because model plugins find their modules through `base_model()`.
    """

    task: str = "caption"
    #: the towers `blocks()` knows, and the one whose blocks produce the output (blocks()' default)
    towers: tuple = ("language",)
    output_tower: str = "language"
    #: {tower: {role: regex on module names}}: which linear layers compute the attention query, key,
    #: value and the MLP output (a fused projection may play several roles)
    module_roles: dict = {}
    #: the head outputs the task's own labels (a classifier), so it trains whatever else is frozen
    labelled_head: bool = False

    def __init__(self, model, device):
        self.model = model
        self.device = device
        #: optimizer steps this run will take (set before `method.prepare`)
        self.total_steps: int | None = None
        #: the run's precision policy (fp32, bf16-mixed, frozen-bf16; None: the device's default): pass it
        #: to `benchhub.device.autocast(self.device, self.precision)` around forward passes
        self.precision: str | None = None
        self.parameter_bytes: dict = {}  # bytes of parameters per dtype once the precision is applied
        #: things the user should hear once (e.g. "captions truncated"): in the record, printed once a matrix
        self.notes: set = set()

    def fit_tokens(self, rows: list, limit: int, what: str = "texts") -> list:
        """Token id lists cut to `limit` (the model's length); a cut is noted once per run."""
        long = sum(len(r) > limit for r in rows)
        if long:
            self.notes.add(f"{what} longer than the model's {limit} tokens are truncated to it")
        return [r[:limit] for r in rows]

    def base_model(self):
        """The model under any PEFT wrapper (model plugins find their modules here)."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    # ---- structure: what methods use to decide what trains
    def blocks(self, tower: str | None = None) -> list:
        """Ordered (bottom to top) transformer blocks of a tower (default: the output tower)."""
        tower = tower or self.output_tower
        if tower not in self.towers:
            raise RunFailure(f"{type(self).__name__} has towers {', '.join(self.towers)}, not '{tower}'")
        return list(self._blocks(tower))

    def _blocks(self, tower: str) -> list:
        raise NotImplementedError

    def head(self):
        """The output head module."""
        raise NotImplementedError

    def set_head(self, module) -> None:
        """Replace the output head (untying it from input embeddings where tied)."""
        raise RunFailure(f"{type(self).__name__} has no replaceable head")

    def components(self) -> dict:
        """Top-level parts (torch modules) for the trainable-parameter manifest: vision, bridge, language, head."""
        raise NotImplementedError

    def modules(self, *roles: str, tower: str | None = None) -> list[str]:
        """Names of the modules playing `roles` in a tower (default: the output tower), e.g. LoRA targets."""
        tower = tower or self.output_tower
        patterns = self.module_roles.get(tower, {})
        unknown = [r for r in roles if r not in patterns]
        if unknown:
            raise RunFailure(f"{type(self).__name__} names no '{unknown[0]}' modules in its {tower} tower")
        found = [name for name, _ in self.base_model().named_modules()
                 if any(re.fullmatch(patterns[r], name) for r in roles)]
        if not found:
            raise RunFailure(f"{type(self).__name__}: no module matches {', '.join(roles)} in the {tower} tower")
        return found

    def module_name(self, module) -> str:
        """The name of `module` inside the base model (e.g. 'classifier')."""
        for name, candidate in self.base_model().named_modules():
            if candidate is module:
                return name
        raise RunFailure(f"{type(module).__name__} is not part of the model")

    # ---- data path
    def collate(self, examples: list[dict]) -> dict:
        """Training examples -> a batch of CPU tensors, with labels (-100 where ignored)."""
        raise NotImplementedError

    def loss_sum(self, batch: dict):
        """(sum of per-token losses, number of target tokens) for a batch: the token-weighted loss."""
        raise NotImplementedError

    def count_targets(self, batch: dict) -> int:
        """Target tokens in a batch (what the summed loss is divided by)."""
        return int((batch["labels"] != -100).sum())

    def predict(self, examples: list[dict], batch_size: int) -> list:
        """Generated outputs (captions, answers or labels) for evaluation examples."""
        raise NotImplementedError

    def check_image_conditioning(self, example: dict) -> float | None:
        """Largest logit change between the example's image and a blank one (None: not checked)."""
        return None

    def example_batch(self, micro_batch: int, text_tokens: int) -> dict:
        """A batch shaped like collate's, from torch factory functions, for `benchhub plan`."""
        raise RunFailure(f"model bundle {type(self).__name__} has no example_batch(); cannot estimate "
                         "activations")

    # ---- weights
    def save(self, directory) -> None:
        """Write the (fine-tuned) weights in `save_pretrained` layout (PEFT: the adapter only)."""
        from benchhub.checkpoints import save_weights

        save_weights(self.model, directory)

    def load_trained(self, directory, method) -> None:
        """Restore what `save` wrote onto this freshly built bundle, as `method` had adapted it."""
        from benchhub.checkpoints import load_weights

        load_weights(self, directory, method)

    # ---- counts
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the current model."""
        params = list(self.model.parameters())
        return sum(numel(p) for p in params if p.requires_grad), sum(numel(p) for p in params)

    def manifest(self) -> dict:
        """Trainable / total parameters per component (+ 'other' for anything left over)."""
        seen, out = set(), {}
        for name, module in self.components().items():
            params = [p for p in module.parameters() if id(p) not in seen]
            seen.update(id(p) for p in params)
            out[name] = {"trainable": sum(numel(p) for p in params if p.requires_grad),
                         "total": sum(numel(p) for p in params)}
        rest = [p for p in self.model.parameters() if id(p) not in seen]
        if rest:
            out["other"] = {"trainable": sum(numel(p) for p in rest if p.requires_grad),
                            "total": sum(numel(p) for p in rest)}
        return out


def numel(p) -> int:
    """Logical parameter count, also for 4-bit packed bitsandbytes weights."""
    state = p.quant_state if hasattr(p, "quant_state") else None
    if state is not None and getattr(state, "shape", None) is not None:
        import math

        return math.prod(state.shape)
    return p.numel()
