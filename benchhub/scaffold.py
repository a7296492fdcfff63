"""`benchhub new method NAME`: a ready-to-install third-party plugin package."""
from __future__ import annotations

import re
from pathlib import Path

from benchhub.errors import UserError

PYPROJECT = '''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "benchhub-{name}"
version = "0.1.0"
description = "The '{name}' fine-tuning method for benchhub."
requires-python = ">=3.10"
dependencies = ["benchhub"]

[project.optional-dependencies]
test = ["pytest"]

# This is what makes benchhub find the plugin: one entry point in the group "benchhub".
[project.entry-points.benchhub]
{module} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
'''

MODULE = '''"""The '{name}' method for benchhub.

A starting point that already runs: as generated, `prepare` trains only the bias terms (BitFit), and a
classifier's head, which must learn the task's labels.
Replace it with what '{name}' does, and the test of what it trains in tests/ with yours.
"""
import benchhub


class {cls}(benchhub.Method):
    """{name}: as generated, trains only the bias parameters of the model (replace with yours).

    Options:
        include_head: also train the model's output head
    """

    name = "{name}"
    default_lr = 1e-3

    def __init__(self, include_head: bool = False):
        self.include_head = include_head

    def prepare(self, bundle):
        bundle.model.requires_grad_(False)
        for param_name, param in bundle.model.named_parameters():
            if param_name.endswith("bias"):
                param.requires_grad_(True)
        # A head that outputs the task's labels (bundle.labelled_head: a classifier) must train, or a new label
        # set cannot be learned: on a classification dataset, benchhub refuses at plan time a method that leaves
        # bundle.head() frozen.
        if self.include_head or bundle.labelled_head:
            bundle.head().requires_grad_(True)
        return bundle


@benchhub.hookimpl
def register_methods(register):
    register({cls})
'''

TEST = '''import pytest

from benchhub import plugins

import {module}

pytest_plugins = ["benchhub.testing"]  # tiny_bundle, train_method, assert_trains_only


def test_registered_through_its_entry_point():
    assert plugins.registry().get("method", "{name}") is {module}.{cls}


@pytest.mark.parametrize("model", ["blip2", "vit", "vit-gpt2"])
def test_trains_only_biases(model, train_method):
    trained = train_method({module}.{cls}(), model=model, steps=2)
    head = trained.bundle.module_name(trained.bundle.head())
    trainable = [n for n, p in trained.bundle.model.named_parameters() if p.requires_grad]
    # biases, and a classifier's whole head (it must learn the task's labels)
    assert trainable and all(n.endswith("bias") or (trained.bundle.labelled_head and n.startswith(head + "."))
                             for n in trainable)
'''

README = '''# benchhub-{name}

A method plugin for [benchhub](https://pypi.org/project/benchhub/).

```bash
pip install -e .
benchhub plugins                 # lists {module} and the method '{name}'
benchhub methods {name}          # its options, from its signature and docstring
# beside the baseline and full fine-tuning, on the seconds-long smoke suite, then the default one:
benchhub run --suite tiny --methods zero-shot,full,{name} --results results-{name}
benchhub run --methods zero-shot,full,{name} --results results-{name}
pytest                           # its tests
```
'''


def new_method(name: str, directory: Path | None = None) -> Path:
    """Write the package `benchhub-NAME/` (pyproject, module, test, README); returns its path."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]|[a-z]", name or ""):
        raise UserError(f"method name '{name}' must be lower-case letters, digits and dashes, e.g. my-method")
    module = "benchhub_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-"))
    target = Path(directory) if directory else Path.cwd() / f"benchhub-{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"{target} already exists and is not an empty directory")
    files = {
        "pyproject.toml": PYPROJECT,
        f"{module}.py": MODULE,
        f"tests/test_{module}.py": TEST,
        "README.md": README,
    }
    for rel, template in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(name=name, module=module, cls=cls))
    return target
