"""Hook specifications: every hook receives a `register` callback so the core owns names."""
from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("benchhub")

# ---------------------------------------------------------------- components


@hookspec
def register_methods(register: Callable[[type], Any]) -> None:
    """Register fine-tuning method classes: name, default_lr, prepare(bundle) -> bundle."""


@hookspec
def register_models(register: Callable[[type], Any]) -> None:
    """Register model classes: name, tasks, presets, build(device, seed) -> Bundle."""


@hookspec
def register_datasets(register: Callable[[type], Any]) -> None:
    """Register dataset classes: name, task, load(seed) -> Splits."""


@hookspec
def register_metrics(register: Callable[[type], Any]) -> None:
    """Register metric classes: name, task, primary, columns, compute(predictions, references) -> dict."""


@hookspec
def register_augmentations(register: Callable[[type], Any]) -> None:
    """Register data-augmentation policies: name, changes (what they may change in an image), apply(images)
    -> (images, {attribute: which examples it changed})."""


# ---------------------------------------------------------------- command line


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the `benchhub` command group."""
