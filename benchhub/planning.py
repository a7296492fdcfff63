"""`benchhub plan`: parameters and peak memory of model × method pairs, without weights.

The model is built on the meta device from its config (shipped for the built-in real presets), the
method is applied, the parameters become fake tensors, and one training step (forward, backward,
AdamW step) runs on a fake batch of the planned micro-batch under the same tensor accounting that
measures real CPU runs (`memory.probe_step`). No weights are read and no memory is allocated.
"""
from __future__ import annotations

from benchhub.errors import RunFailure

# bytes per parameter of a frozen base weight, by the method's quantization
BASE_BYTES = {None: 4.0, "int8": 1.0, "nf4": 0.5}
PRECISIONS = ("bf16-mixed", "frozen-bf16", "fp32")  # as the `precision` budget key (benchhub.budget.PRECISIONS)
BF16 = ("bf16-mixed", "frozen-bf16")


class PairPlan:
    """One model × method on fake tensors; `step(micro_batch)` estimates a training step's memory."""

    def __init__(self, model_plugin, method, text_tokens: int = 32, precision: str = "bf16-mixed",
                 effective_batch: int = 16):
        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode

        if precision not in PRECISIONS:
            raise RunFailure(f"unknown precision '{precision}'; choose {' or '.join(PRECISIONS)}")
        bundle = model_plugin.meta_bundle()
        bundle.total_steps = 1000
        self.quantization = method.quantization
        self.quantized_modules = quantized_modules(bundle) if self.quantization else []
        self.quantized_params = sum(m.weight.numel() for m in self.quantized_modules)
        bundle = method.prepare(bundle) or bundle
        self.bundle, self.method = bundle, method
        self.trainable, self.total = bundle.parameter_counts()
        self.trains = method.trains
        self.text_tokens, self.precision, self.effective_batch = text_tokens, precision, effective_batch
        self.mode = FakeTensorMode(allow_non_fake_inputs=True)
        self._fake = False
        self._steps: dict[int, dict] = {}
        self.device = torch.device("cpu")

    def _materialize(self) -> None:
        """Meta parameters -> fake CPU tensors (weight tying restored), once.

        A quantized base computes in the compute dtype and keeps no other copy for backward
        (bitsandbytes saves the packed weight and dequantizes again), so its weights are held in
        the compute dtype here: autocast then adds no copies of them.
        """
        if self._fake:
            return
        import torch

        with self.mode:
            self.bundle.model.to_empty(device="cpu")
            base = self.bundle.base_model()
            if hasattr(base, "tie_weights"):
                base.tie_weights()
            if self.precision in BF16:
                for module in self.quantized_modules:
                    module.weight = torch.nn.Parameter(module.weight.to(torch.bfloat16), requires_grad=False)
            if self.precision == "frozen-bf16":  # the run's policy: frozen weights held in bf16
                from benchhub.device import apply_precision

                apply_precision(self.bundle.model, "frozen-bf16")
        self.bundle.device = self.device
        self._fake = True

    def static(self) -> dict:
        held = 2.0 if self.precision == "frozen-bf16" else 4.0  # bytes per frozen parameter
        frozen = self.total - (self.trainable if self.trains else 0)
        weights = frozen * held + (self.total - frozen) * 4 - self._quantization_saving(held)
        training = self.trainable * (4 + 8) if self.trains else 0
        return {"weights_bytes": int(weights), "gradients_and_optimizer_bytes": int(training),
                "static_bytes": int(weights + training)}

    def step(self, micro_batch: int) -> dict:
        """Estimated bytes of one training step at `micro_batch` (effective_batch / micro_batch
        micro-batches): weights, gradients, optimizer, activations/other and the step's peak (what
        CUDA calls allocated)."""
        if micro_batch in self._steps:
            return self._steps[micro_batch]
        from benchhub.fit_memory import probe_step

        if not self.trains:
            raise RunFailure(f"method '{self.method.name}' does not train")
        self._materialize()
        with self.mode:
            batches = [self.bundle.example_batch(micro_batch, self.text_tokens)
                       for _ in range(self.effective_batch // micro_batch)]
            est = probe_step(self.bundle, batches, fake=True, precision=self.precision)
        saved = self._quantization_saving(2.0 if self.precision in BF16 else 4.0)  # what the fake model holds
        est["weights"] -= saved
        est["peak_allocated"] -= saved
        self._steps[micro_batch] = est
        return est

    def _quantization_saving(self, held: float = 4.0) -> int:
        """Bytes a quantized base saves against its weights held at `held` bytes per parameter."""
        return int(self.quantized_params * (held - BASE_BYTES[self.quantization])) if self.quantization else 0

    def fits(self, limit: int, max_micro_batch: int) -> tuple[int | None, dict]:
        """The largest divisor of the effective batch whose estimated peak fits `limit`, and its estimate."""
        from benchhub.fit_memory import divisors_descending

        est = self.step(1)
        if est["peak_allocated"] > limit:  # not even one example at a time
            return None, est
        for m in divisors_descending(self.effective_batch, max_micro_batch):
            est = self.step(m)
            if est["peak_allocated"] <= limit:
                return m, est
        return None, est


def quantized_modules(bundle) -> list:
    """Modules bitsandbytes would quantize: Linear (and Conv1D) layers outside the head and the
    model's `_keep_in_fp32_modules` (transformers keeps those unquantized, e.g. BLIP-2's Q-Former)."""
    import torch
    from transformers.pytorch_utils import Conv1D  # GPT-2's linear layers, quantized too

    model = bundle.base_model()
    keep = list(getattr(model, "_keep_in_fp32_modules", None) or [])  # a transformers attribute
    head = {id(p) for p in bundle.head().parameters()}
    return [module for name, module in model.named_modules()
            if isinstance(module, (torch.nn.Linear, Conv1D)) and id(module.weight) not in head
            and not any(k in name.split(".") for k in keep)]


HEADROOM = 0.9  # a plan "fits" when its estimate is within this share of the limit


def plan_table(registry, models: list, methods: list, budget, limits: list[tuple[str, int]], text_tokens: int,
               precision: str, progress=lambda text: None):
    """`benchhub plan`: (a rich table with one row per model × method that could be planned,
    [(model, method, why) for each pair that could not])."""
    from rich.table import Table

    from benchhub.errors import first_line
    from benchhub.spec import check_options, instantiate

    m, failed = budget.micro_batch, []
    table = Table("model", "method", "total params", "trainable", "weights", "grads + AdamW",
                  f"activations/other @{m}", f"peak @{m}", *[f"fits {t}?" for t, _ in limits], box=None,
                  title=f"estimated tensor peak of one training step ({precision}, effective batch "
                        f"{budget.effective_batch}, {text_tokens} text tokens per example); 'yes @m×k' = "
                        "micro-batch m with k accumulation steps whose estimate is within 90 % of the limit (the "
                        "rest is headroom for what is not estimated: the CUDA context and allocator "
                        "fragmentation, or the CPU process's runtime, ~350 MiB)")
    for model in models:
        model_cls = registry.get_variant("model", model.name)
        check_options("model", model_cls, model.name, model.options)
        for method in methods:
            method_cls = registry.get_variant("method", method.name)
            options = {k: v for k, v in method.options.items() if k != "lr"}
            check_options("method", method_cls, method.name, options)
            progress(f"planning {model.label()} × {method.label()} …")
            try:
                pair = PairPlan(instantiate(model_cls, model.name, model.options),
                                instantiate(method_cls, method.name, options), text_tokens, precision,
                                budget.effective_batch)
                table.add_row(*_plan_row(pair, model.name, method.label(), budget, limits))
            except Exception as exc:  # noqa: BLE001 - said below the table; the other pairs still plan
                failed.append((model.name, method.label(), first_line(exc)))
    return table, failed


def _plan_row(pair: PairPlan, model: str, method: str, budget, limits) -> list[str]:
    from benchhub.budget import format_bytes as fmt

    share = 100 * pair.trainable / pair.total if pair.total else 0
    static = pair.static()
    cells = [model, method, f"{pair.total:,}", f"{pair.trainable:,} ({share:.2f} %)", fmt(static["weights_bytes"]),
             fmt(static["gradients_and_optimizer_bytes"])]
    if not pair.trains:  # inference only: the weights (generation activations are not estimated)
        return cells + ["–", fmt(static["weights_bytes"]),
                        *["yes (no training)" if static["weights_bytes"] <= v else "no" for _, v in limits]]
    top = pair.step(budget.micro_batch)
    cells += [fmt(top["activations_other"]), fmt(top["peak_allocated"])]
    for _, limit in limits:
        chosen, est = pair.fits(int(limit * HEADROOM), budget.micro_batch)
        cells.append(f"yes @{chosen}×{budget.effective_batch // chosen}" if chosen
                     else f"no: {fmt(est['peak_allocated'])} @1")
    return cells
