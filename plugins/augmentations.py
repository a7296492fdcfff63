"""The built-in data-augmentation policies, on kornia (pure PyTorch: the same code on CPU and GPU, on batches).

Each says what it may change in an image (`changes`); the core refuses, at plan time, a policy that would
change what a dataset's labels name unless the dataset rewrites them (`benchhub.augment.conflicts`).
"""
from __future__ import annotations

import benchhub


class NoAugmentation(benchhub.Augmentation):
    """No augmentation: the images as the dataset gives them (the run's config names no policy)."""

    name = "none"
    changes = ()

    def apply(self, images):
        return images, {}


class Light(benchhub.Augmentation):
    """Small crops and brightness/contrast jitter: each image cropped to a random 85-100 % of its area (aspect
    0.9-1.1) and resized back, then, with probability 0.8, brightness and contrast jittered by up to ±20 %.
    Hue, orientation and left/right are kept, so colour names and positions in captions stay true.

    Options:
        min_area: the smallest share of the image a crop keeps.
        jitter: the largest brightness and contrast change, as a fraction.
    """

    name = "light"
    changes = ("scale", "brightness")

    def __init__(self, min_area: float = 0.85, jitter: float = 0.2):
        from benchhub.errors import UserError

        if not 0 < min_area <= 1 or not 0 <= jitter < 1:
            raise UserError(f"light: min_area must be in (0, 1] and jitter in [0, 1), got {min_area}, {jitter}")
        self.min_area, self.jitter = min_area, jitter

    def apply(self, images):
        import kornia.augmentation as K

        size = tuple(images.shape[-2:])
        crop = K.RandomResizedCrop(size, scale=(self.min_area, 1.0), ratio=(0.9, 1.1), p=1.0)
        colour = K.ColorJitter(brightness=self.jitter, contrast=self.jitter, p=0.8)
        return colour(crop(images)).clamp(0, 1), {}


class Strong(benchhub.Augmentation):
    """RandAugment (Cubuk et al., 2020) as kornia implements it: `n` operations per image drawn from its policy
    (rotation, shear, translation, colour, contrast, brightness, sharpness, posterize, solarize, equalize, ...)
    at magnitude `m` of 30. It changes colours and orientation, so datasets whose labels name them refuse it.

    Options:
        n: operations per image.
        m: their magnitude, 0-30.
    """

    name = "strong"
    changes = ("rotation", "hue", "brightness", "scale")

    def __init__(self, n: int = 2, m: int = 9):
        from benchhub.errors import UserError

        if not 1 <= n <= 10 or not 0 <= m <= 30:
            raise UserError(f"strong: n must be 1-10 and m 0-30, got {n}, {m}")
        self.n, self.m = n, m

    def apply(self, images):
        from kornia.augmentation.auto import RandAugment

        return RandAugment(n=self.n, m=self.m)(images).clamp(0, 1), {}


class Colour(benchhub.Augmentation):
    """Colour jitter: hue shifted by up to ±`hue` of the colour wheel and saturation by up to ±`saturation`,
    each image with probability 0.8. A hue shift can turn a red shape orange.

    Options:
        hue: the largest hue shift, a fraction of the colour wheel (at most 0.5).
        saturation: the largest saturation change, as a fraction.
    """

    name = "colour"
    changes = ("hue",)

    def __init__(self, hue: float = 0.1, saturation: float = 0.3):
        from benchhub.errors import UserError

        if not 0 <= hue <= 0.5 or not 0 <= saturation < 1:
            raise UserError(f"colour: hue must be in [0, 0.5] and saturation in [0, 1), got {hue}, {saturation}")
        self.hue, self.saturation = hue, saturation

    def apply(self, images):
        import kornia.augmentation as K

        return K.ColorJitter(saturation=self.saturation, hue=self.hue, p=0.8)(images).clamp(0, 1), {}


class Flip(benchhub.Augmentation):
    """Horizontal flip: each image mirrored left to right with probability `p`. Captions that say "on the left"
    become false for a mirrored image unless the dataset rewrites them (shapes swaps left and right).

    Options:
        p: the probability that an image is mirrored.
    """

    name = "flip"
    changes = ("horizontal",)

    def __init__(self, p: float = 0.5):
        from benchhub.errors import UserError

        if not 0 <= p <= 1:
            raise UserError(f"flip: p must be in [0, 1], got {p}")
        self.p = p

    def apply(self, images):
        import torch
        from kornia.geometry.transform import hflip

        mirrored = torch.rand(images.shape[0]) < self.p
        out = images.clone()
        if mirrored.any():
            out[mirrored] = hflip(images[mirrored])
        return out, {"horizontal": mirrored}


@benchhub.hookimpl
def register_augmentations(register):
    for cls in (NoAugmentation, Light, Strong, Colour, Flip):
        register(cls)
