"""Data augmentation in a run: the policy (`components.Augmentation`, a plugin) applied to each training
batch's images, per step, on the fly, with the labels kept true.

- Deterministic under the run's seed and step: the policy's random draws use torch's global generator, forked
  and seeded with (seed, step), so training's own random stream is untouched and a resumed run augments each
  step as an uninterrupted one does.
- Labels stay true: where a policy changed an attribute the dataset's labels name (`Dataset.depends_on`), the
  dataset rewrites that example (`Dataset.rewrite`, e.g. left and right swapped in a mirrored image's caption);
  a policy that would change one the dataset cannot rewrite is refused at plan time (`conflicts`).
- Only training examples are augmented; validation, evaluation and source examples never are.
"""
from __future__ import annotations


def conflicts(policy_cls: type, policy_label: str, dataset_cls: type, dataset_name: str) -> str | None:
    """Why `policy` cannot run on the dataset (one line), or None: what it changes that the labels name and
    the dataset does not rewrite, or a dataset that declares nothing while the policy changes something."""
    changes = set(policy_cls.changes)
    if not changes:
        return None
    if dataset_cls.depends_on is None:
        return (f"augmentation '{policy_label}' changes {', '.join(sorted(changes))}, and dataset '{dataset_name}' "
                "does not declare what its labels depend on (`depends_on`); only 'none' can run on it")
    falsified = sorted(changes & set(dataset_cls.depends_on) - set(dataset_cls.rewrites))
    if falsified:
        return (f"augmentation '{policy_label}' changes {', '.join(falsified)}, which the labels of dataset "
                f"'{dataset_name}' name and it cannot rewrite: they would be false (choose a policy that keeps "
                f"{', '.join(falsified)}, e.g. light)")
    return None


def _to_batch(images: list):
    """PIL images (one size) -> float B × 3 × H × W in [0, 1]."""
    import numpy as np
    import torch

    arrays = np.stack([np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div(255)


def _to_image(tensor, mode: str):
    from PIL import Image

    array = tensor.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    image = Image.fromarray(array, "RGB")
    return image if mode == "RGB" else image.convert(mode)


class Augmenter:
    """A run's policy on its training batches: `augmenter(examples, step)` -> the examples augmented."""

    def __init__(self, policy, dataset, seed: int):
        self.policy, self.dataset, self.seed = policy, dataset, seed

    def __call__(self, examples: list[dict], step: int) -> list[dict]:
        import torch

        images = [ex["image"] for ex in examples]
        sizes = {im.size for im in images}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + step)
            if len(sizes) == 1:
                out, changed = self.policy.apply(_to_batch(images))
            else:  # images of several sizes: one at a time
                parts = [self.policy.apply(_to_batch([im])) for im in images]
                out = [p[0][0] for p in parts]
                changed = {a: torch.tensor([bool(p[1][a][0]) for p in parts]) for a in parts[0][1]}
        augmented = []
        for i, example in enumerate(examples):
            example = {**example, "image": _to_image(out[i], images[i].mode)}
            for attribute, mask in changed.items():
                if bool(mask[i]) and attribute in self.dataset.rewrites:
                    example = self.dataset.rewrite(example, attribute)
            augmented.append(example)
        return augmented
