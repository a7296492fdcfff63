"""Hook specifications: every hook receives a `register` callback so the core owns names."""
from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("benchhub")

# ---------------------------------------------------------------- components


@hookspec
def register_methods(register: Callable[[type], None]) -> None:
    """Register fine-tuning method classes (attributes: name, default_lr; method prepare(bundle))."""


@hookspec
def register_models(register: Callable[[type], None]) -> None:
    """Register model classes (attributes: name, tasks, presets; method build(...) -> bundle)."""


@hookspec
def register_datasets(register: Callable[[type], None]) -> None:
    """Register dataset classes (attributes: name, task; method load(seed) -> Splits)."""


@hookspec
def register_metrics(register: Callable[[type], None]) -> None:
    """Register metric classes (attributes: name, task, higher_is_better; compute(preds, refs))."""


# ---------------------------------------------------------------- command line


@hookspec
def register_commands(cli) -> None:
    """Add click commands to the `benchhub` command group."""
