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

    def __init__(self, model, device):
        self.model = model
        self.device = device

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
        """Write the (fine-tuned) weights in `save_pretrained` layout."""
        self.model.save_pretrained(directory)

    # ---- helpers
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the current model."""
        trainable = total = 0
        for p in self.model.parameters():
            total += p.numel()
            if p.requires_grad:
                trainable += p.numel()
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
                total += p.numel()
                trainable += p.numel() if p.requires_grad else 0
            out[name] = {"trainable": trainable, "total": total}
        rest = [p for p in self.model.parameters() if id(p) not in seen]
        if rest:
            out["other"] = {"trainable": sum(p.numel() for p in rest if p.requires_grad),
                            "total": sum(p.numel() for p in rest)}
        return out
