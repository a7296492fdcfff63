"""A throwaway plugin for tests: a toy classifier task that runs in a second, plus methods that fail.

Its method, model, dataset and metric classes are plain classes on purpose (not subclasses of
benchhub.Method etc.): registration must give them the documented defaults."""
import os
import signal

import benchhub
from benchhub import Splits
from benchhub.bundle import Bundle


class ToyBundle(Bundle):
    task = "toy"

    def _blocks(self, tower):
        return [self.model]

    def head(self):
        return self.model

    def components(self):
        return {"head": self.model}

    def collate(self, examples):
        import torch

        return {"x": torch.tensor([e["x"] for e in examples]), "labels": torch.tensor([e["y"] for e in examples])}

    def loss_sum(self, batch):
        import torch.nn.functional as F

        return F.cross_entropy(self.model(batch["x"]), batch["labels"], reduction="sum"), len(batch["labels"])

    def predict(self, examples, batch_size):
        import torch

        with torch.no_grad():
            logits = self.model(torch.tensor([e["x"] for e in examples]))
        return [str(int(i)) for i in logits.argmax(-1)]


class BadLossBundle(ToyBundle):
    """Normalises inside each micro-batch in a non-linear way: accumulation cannot match one batch."""

    def loss_sum(self, batch):
        loss, n = super().loss_sum(batch)
        return (loss / n) ** 2 * n, n


class WideActivations:
    """A linear classifier that also keeps 32 MiB of activations per training example for backward."""

    def __new__(cls):
        import torch

        class Wide(torch.nn.Linear):
            def forward(self, x):
                out = super().forward(x)
                if self.training:  # x repeated 2M times, scaled by a weight: saved for its gradient
                    big = x.repeat(1, 2**21) * self.weight[0, 0]
                    out = out + big.mean(dim=1, keepdim=True) * 0
                return out

        return Wide(4, 3)


class OomAbove2Bundle(ToyBundle):
    """Raises CUDA's out-of-memory error for micro-batches above 2, as a capped GPU would."""

    def loss_sum(self, batch):
        import torch

        if len(batch["labels"]) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().loss_sum(batch)


class ToyModel:
    """A linear classifier on 4 features. Presets: 'bad-loss' (a mis-normalised loss), 'wide' (large
    activations), 'oom-above-2' (CUDA OOM above micro-batch 2)."""

    name = "toy"
    tasks = ("toy",)

    def __init__(self, preset: str = "small"):
        self.preset = preset

    def build(self, device, seed=0):
        import torch

        torch.manual_seed(seed)
        cls = {"bad-loss": BadLossBundle, "oom-above-2": OomAbove2Bundle}.get(self.preset, ToyBundle)
        return cls(WideActivations() if self.preset == "wide" else torch.nn.Linear(4, 3), device)


class ToyData:
    """Three separable classes."""

    name = "toy-data"
    task = "toy"

    def __init__(self, size: int = 48):
        self.size = size

    def load(self, seed=0):
        import random

        rng = random.Random(seed)
        rows = []
        for i in range(self.size):
            y = i % 3
            x = [rng.gauss(0, 0.1) + (2.0 if j == y else 0.0) for j in range(4)]
            rows.append({"x": x, "y": y, "references": [str(y)]})
        return Splits(rows, rows[: self.size // 2], {"train": self.size, "eval": self.size // 2})


class ToyAccuracy:
    name = "toy-accuracy"
    task = "toy"
    primary = "accuracy"
    columns = ("accuracy",)

    def compute(self, predictions, references):
        return {"accuracy": sum(p in r for p, r in zip(predictions, references)) / len(predictions)}


class Explode:
    """Raises while preparing."""

    name = "explode"
    default_lr = 0.1

    def prepare(self, bundle):
        raise RuntimeError("boom: this method always fails")


class MakeNan:
    """Poisons the weights so the loss is NaN."""

    name = "nan"
    default_lr = 0.1

    def prepare(self, bundle):
        import torch

        with torch.no_grad():
            bundle.model.weight.fill_(float("nan"))
        return bundle


class Sigkill:
    """Kills its own process, like the kernel's OOM killer would."""

    name = "sigkill"
    default_lr = 0.1

    def prepare(self, bundle):
        os.kill(os.getpid(), signal.SIGKILL)


class Grow:
    """Full training, after allocating `mib` MiB that stay resident (to exceed a memory limit)."""

    name = "grow"
    default_lr = 0.1

    def __init__(self, mib: int = 0):
        self.mib = mib

    def prepare(self, bundle):
        self.grow()
        return bundle

    def grow(self):
        self.ballast = bytearray(self.mib * 2**20)
        for i in range(0, len(self.ballast), 4096):
            self.ballast[i] = 1


@benchhub.hookimpl
def register_models(register):
    register(ToyModel)


@benchhub.hookimpl
def register_datasets(register):
    register(ToyData)


@benchhub.hookimpl
def register_metrics(register):
    register(ToyAccuracy)


@benchhub.hookimpl
def register_methods(register):
    for cls in (Explode, MakeNan, Sigkill, Grow):
        register(cls)


class NanLater:
    """Trains normally for one step, then poisons the weights."""

    name = "nan-later"
    default_lr = 0.1

    def prepare(self, bundle):
        return bundle

    def after_optimizer_step(self, bundle, step, total_steps):
        import torch

        with torch.no_grad():
            bundle.model.weight.fill_(float("nan"))


class ClaimsFrozenHead:
    """Says it freezes the head, but trains everything (a bug the runner must catch)."""

    name = "claims-frozen-head"
    default_lr = 0.1
    freezes = ("head",)

    def prepare(self, bundle):
        bundle.model.requires_grad_(True)
        return bundle


class GrowLater(Grow):
    """Full training that grows `mib` MiB resident after the first optimizer step (past the memory probe)."""

    name = "grow-later"

    def prepare(self, bundle):
        return bundle

    def after_optimizer_step(self, bundle, step, total_steps):
        if step == 1:
            self.grow()


@benchhub.hookimpl(specname="register_methods")
def register_more_methods(register):
    register(ClaimsFrozenHead)
    register(NanLater)
    register(GrowLater)
