"""scikit-learn's handwritten digits (real 8×8 scans, shipped with the package) as a domain shift."""
from __future__ import annotations

import random

import benchhub
from benchhub import Splits
from benchhub_plugins.datasets.common import check_sizes

DOMAINS = {"source": range(0, 5), "target": range(5, 10), "all": range(0, 10)}


def digit_examples(domain: str) -> list[dict]:
    """Every digit of a domain as {image (32×32 RGB), label}, in a fixed shuffled order."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = set(DOMAINS[domain])
    out = []
    for pixels, label in zip(data.images, data.target):
        if int(label) in keep:
            grey = (np.clip(pixels / 16.0, 0, 1) * 255).astype(np.uint8)
            image = Image.fromarray(grey).resize((32, 32), Image.BILINEAR).convert("RGB")
            out.append({"image": image, "label": int(label), "references": [str(int(label))]})
    random.Random(f"digits/{domain}").shuffle(out)
    return out


class Digits(benchhub.Dataset):
    """Handwritten digits: pre-train on 0–4 (source), adapt to the new label set 5–9 (target).

    Options:
        domain: source (digits 0-4) or target (5-9)
        train_size: training images
        eval_size: evaluation images
    """

    name = "digits"
    task = "classify"
    depends_on = ("horizontal", "vertical", "rotation")  # a mirrored or turned digit is another digit (or none)

    def __init__(self, domain: str = "target", train_size: int = 500, eval_size: int = 300):
        if domain not in DOMAINS:
            raise benchhub.UserError(f"dataset digits: unknown domain '{domain}'; available: {', '.join(DOMAINS)}")
        check_sizes(self.name, train_size=train_size, eval_size=eval_size)
        self.domain, self.train_size, self.eval_size = domain, train_size, eval_size

    def pretraining(self, size: int | None = None) -> list[dict]:
        """Every digit of the domain (or the first `size`), in a fixed shuffled order."""
        return digit_examples(self.domain)[:size]

    def check(self) -> None:
        """train_size + eval_size fit the domain's images (counted without drawing them)."""
        from sklearn.datasets import load_digits

        available = sum(int(label) in DOMAINS[self.domain] for label in load_digits().target)
        if self.train_size + self.eval_size > available:
            raise benchhub.UserError(f"dataset digits: domain {self.domain} has {available} images; train_size + "
                                     f"eval_size = {self.train_size + self.eval_size} must be at most that")

    def load(self, seed: int = 0) -> Splits:
        examples = digit_examples(self.domain)
        if self.train_size + self.eval_size > len(examples):
            raise benchhub.errors.RunFailure(
                f"digits {self.domain} has {len(examples)} images; train_size + eval_size = "
                f"{self.train_size + self.eval_size}")
        held_out = examples[:self.eval_size]  # the split does not depend on the run seed
        train = examples[self.eval_size:self.eval_size + self.train_size]
        info = {"domain": self.domain, "labels": [str(d) for d in DOMAINS[self.domain]], "train": len(train),
                "eval": len(held_out), "split": "sklearn load_digits, fixed shuffle; first eval_size held out"}
        return Splits(train, held_out, info)


@benchhub.hookimpl
def register_datasets(register):
    register(Digits)
