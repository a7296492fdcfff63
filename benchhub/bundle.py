"""What a model plugin hands to methods and to the training loop: model-agnostic access points."""
from __future__ import annotations


class Bundle:
    """A built model plus the model knowledge methods need (blocks, head, components, LoRA targets).

    Model plugins subclass this. Methods may replace `model` (e.g. with a PEFT wrapper); every
    other access point must keep working on the replaced model.
    """

    task: str = "caption"
    #: default `target_modules` for LoRA-like methods (e.g. the language model's q_proj, v_proj)
    lora_target_modules: list[str] | str = "all-linear"
    #: modules PEFT methods train in full beside their adapters (e.g. a classifier for new labels)
    peft_modules_to_save: list[str] | None = None
    #: the tower `frozen-top` trains when none is named
    default_tower: str = "language"
    #: PEFT `target_modules` by kind beyond 'attention', e.g. {"ia3": regex, "feedforward": regex}
    peft_target_patterns: dict[str, str] = {}

    def __init__(self, model, device):
        self.model = model
        self.device = device
        #: optimizer steps this run will take (set by the runner before `method.prepare`)
        self.total_steps: int | None = None

    def peft_targets(self, kind: str):
        """PEFT `target_modules` by kind: 'attention' (LoRA-style default) or 'feedforward' (IA3)."""
        if kind == "attention":
            return self.lora_target_modules
        if kind in self.peft_target_patterns:
            return self.peft_target_patterns[kind]
        raise NotImplementedError(f"{type(self).__name__} names no '{kind}' modules for PEFT")

    def set_head(self, module) -> None:
        """Replace the output head (untying it from input embeddings where tied)."""
        raise NotImplementedError(f"{type(self).__name__} has no replaceable head")

    def _base(self):
        """The model under any PEFT wrapper (model plugins find their modules here)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if get_base else self.model

    # ---- structure: what methods use to decide what trains
    def blocks(self, tower: str = "language") -> list:
        """Ordered (bottom to top) transformer blocks of a tower."""
        raise NotImplementedError

    def head(self):
        """The output head module."""
        raise NotImplementedError

    def components(self) -> dict:
        """Top-level parts for the trainable-parameter manifest, e.g. vision, bridge, language, head."""
        raise NotImplementedError

    # ---- data path
    def collate(self, examples: list[dict]) -> dict:
        """Training examples -> a batch of tensors on `device`, with labels (-100 where ignored)."""
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

    def save(self, directory) -> None:
        """Write the (fine-tuned) weights in `save_pretrained` layout (PEFT: the adapter only)."""
        if hasattr(self.model, "save_pretrained"):
            self.model.save_pretrained(directory)
            return
        from pathlib import Path

        from safetensors.torch import save_model

        Path(directory).mkdir(parents=True, exist_ok=True)
        save_model(self.model, str(Path(directory) / "model.safetensors"))

    def load_trained(self, directory, method) -> None:
        """Restore what `save` wrote onto this freshly built bundle, as `method` had adapted it."""
        from pathlib import Path

        directory = Path(directory)
        if (directory / "adapter_config.json").exists():
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, directory)
            return
        method.prepare(self)
        from safetensors.torch import load_file

        files = sorted(directory.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no safetensors weights in {directory}")
        state = {}
        for f in files:
            state.update(load_file(f))
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"weights in {directory} do not fit the model: unexpected {unexpected[:3]}")
        # save_pretrained drops tied duplicates (e.g. lm_head = embed_tokens): allow only those
        aliases, id_of = {}, {}
        for name, p in self.model.named_parameters(remove_duplicate=False):
            aliases.setdefault(id(p), set()).add(name)
            id_of[name] = id(p)
        untied = [m for m in missing if m in id_of and not aliases[id_of[m]] & set(state)]
        if untied:
            raise ValueError(f"weights in {directory} miss {untied[:3]}")

    # ---- helpers
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the current model."""
        trainable = total = 0
        for p in self.model.parameters():
            n = numel(p)
            total += n
            trainable += n if p.requires_grad else 0
        return trainable, total

    def manifest(self) -> dict:
        """Trainable / total parameters per component (+ 'other' for anything left over)."""
        seen, out = set(), {}
        for name, module in self.components().items():
            trainable = total = 0
            for p in module.parameters():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                total += numel(p)
                trainable += numel(p) if p.requires_grad else 0
            out[name] = {"trainable": trainable, "total": total}
        rest = [p for p in self.model.parameters() if id(p) not in seen]
        if rest:
            out["other"] = {"trainable": sum(numel(p) for p in rest if p.requires_grad),
                            "total": sum(numel(p) for p in rest)}
        return out


def numel(p) -> int:
    """Logical parameter count, also for 4-bit packed bitsandbytes weights."""
    state = getattr(p, "quant_state", None)
    if state is not None and getattr(state, "shape", None) is not None:
        import math

        return math.prod(state.shape)
    return p.numel()
